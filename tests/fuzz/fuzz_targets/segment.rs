//! cargo-fuzz target: `lineage_tests::fuzz::segment`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_tests::fuzz::segment(data));
