//! cargo-fuzz target: `lineage_tests::fuzz::mlflow_file_store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_tests::fuzz::mlflow_file_store(data));
