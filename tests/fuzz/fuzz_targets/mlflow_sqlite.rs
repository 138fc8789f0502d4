//! cargo-fuzz target: `lineage_tests::fuzz::mlflow_sqlite`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lineage_tests::fuzz::mlflow_sqlite(data));
