//! Fuzz target: `check` and `parse` never panic, agree on every input, and whatever parses
//! re-encodes to a frame that parses back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checked = resp::check(data);
    let parsed = resp::parse(data);
    match (checked, parsed) {
        (Ok(Some(c)), Ok(Some((frame, len)))) => {
            assert_eq!(c.len, len);
            let mut again = Vec::new();
            resp::encode_frame(&frame, &mut again);
            let (back, _) = resp::parse(&again)
                .expect("re-encoded frame parses")
                .expect("re-encoded frame is complete");
            // NaN never equals itself; compare the encodings instead.
            let mut twice = Vec::new();
            resp::encode_frame(&back, &mut twice);
            assert_eq!(again, twice);
        }
        (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
        (c, p) => panic!("check and parse disagree: {c:?} vs {p:?}"),
    }
});
