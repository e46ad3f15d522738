//! Arbitrary text as a configuration, in TOML and in JSON: it loads or fails with a typed
//! error, never panics; a configuration that loads also validates.
#![no_main]

use amikeeper::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for loaded in [Config::from_toml(text), Config::from_json(text)] {
        match loaded {
            Ok(config) => {
                config.validate().expect("a loaded configuration is valid");
                for rule in &config.rules {
                    let _ = rule.kinds();
                }
                let _ = amikeeper::iam::policy(&config);
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
});
