//! cargo-fuzz target `lxc`: see `moat_attacks::targets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (moat_attacks::targets::by_name("lxc").expect("target exists").run)(data);
});
