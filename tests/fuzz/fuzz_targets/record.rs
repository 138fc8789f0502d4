//! cargo-fuzz target: `lineage_tests::fuzz::record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_tests::fuzz::record(data));
