//! `irtx.toml`, with environment overrides.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = vec![("IRTX_EXCHANGE__MAX_OBJECTS".to_string(), "5".to_string())];
    if let Ok(c) = irtx::config::Config::from_toml(text, std::path::Path::new("x.toml"), env) {
        let _ = c.profiles();
        let _ = c.team();
    }
});
