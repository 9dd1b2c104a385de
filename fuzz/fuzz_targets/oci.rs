//! cargo-fuzz target `oci`: see `moat_attacks::targets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (moat_attacks::targets::by_name("oci").expect("target exists").run)(data);
});
