//! A local report: validation, then conversion to both formats, the output checks, and a
//! strict anonymization.
#![no_main]

use irtx::anonymize::{anonymize, Key, Profile, Pseudonymizer};
use irtx::convert::{check_output, convert, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = irtx::report::parse(data) else {
        return;
    };
    let team = irtx::team::Team::new("cert-a".parse().unwrap(), "A");
    for f in [Format::Stix, Format::Iodef] {
        let doc = convert(&r, &team, f);
        assert!(check_output(&doc, f).is_empty(), "irtx made an invalid {f} document");
    }
    let p = Pseudonymizer::new(&Key::from_bytes([3; 32]));
    let _ = anonymize(&r, &Profile::builtin("strict").unwrap(), &p);
});
