#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailtls::fuzzing::pop3_status(data));
