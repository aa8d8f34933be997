//! What a TAXII client sends: the query string (filters, limit, the cursor), the
//! Authorization and Accept and Content-Type headers, and the envelope it posts.
#![no_main]

use irtx::taxii::{accepts, bundle_of_post, credentials, parse_query, readable_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let filters = ["id", "type", "version", "spec_version"];
    if let Ok(q) = parse_query(&params, "cert-b/shared", &filters) {
        assert!(q.limit >= 1 && q.limit <= irtx::taxii::MAX_LIMIT);
        // A cursor issued for a query gives that query back.
        let next = irtx::taxii::next_cursor("cert-b/shared", q.after, &q.filter);
        let again = parse_query(&[("next".into(), next)], "cert-b/shared", &filters).unwrap();
        assert_eq!(again.filter, q.filter);
        assert_eq!(again.after, q.after);
    }
    let _ = credentials(&text);
    let _ = accepts(Some(&text));
    let _ = readable_body(Some(&text));
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok((bundle, listed)) = bundle_of_post(&v) {
            assert_eq!(bundle["objects"].as_array().map(Vec::len), Some(listed.len()));
        }
    }
});
