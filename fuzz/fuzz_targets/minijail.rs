//! cargo-fuzz target `minijail`: see `moat_attacks::targets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (moat_attacks::targets::by_name("minijail").expect("target exists").run)(data);
});
