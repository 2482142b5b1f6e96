//! Property tests: any frame survives encode → decode, whole and fed in random chunks.

use proptest::prelude::*;
use resp::{Frame, check, encode_frame, parse};

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _:.-]{0,16}"
}

fn scalar() -> impl Strategy<Value = Frame> {
    prop_oneof![
        text().prop_map(Frame::Simple),
        text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Frame::Bulk),
        Just(Frame::Null),
        (-1.0e12f64..1.0e12).prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,30}".prop_map(Frame::BigNumber),
        text().prop_map(Frame::BulkError),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(|text| Frame::Verbatim {
            format: *b"txt",
            text
        }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Frame::Push),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

proptest! {
    #[test]
    fn round_trip_whole(f in frame()) {
        let mut buf = Vec::new();
        encode_frame(&f, &mut buf);
        let checked = check(&buf).unwrap().unwrap();
        prop_assert_eq!(checked.len, buf.len());
        let (g, n) = parse(&buf).unwrap().unwrap();
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(g, f);
    }

    /// A stream of frames fed in random-sized chunks decodes to the same frames; every
    /// strict prefix of a frame is "incomplete", never an error.
    #[test]
    fn round_trip_chunked(frames in proptest::collection::vec(frame(), 1..8),
                          cuts in proptest::collection::vec(1usize..17, 1..64)) {
        let mut wire = Vec::new();
        for f in &frames {
            encode_frame(f, &mut wire);
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        let mut offset = 0;
        let mut cut = cuts.iter().cycle();
        while offset < wire.len() {
            let n = (*cut.next().unwrap()).min(wire.len() - offset);
            pending.extend_from_slice(&wire[offset..offset + n]);
            offset += n;
            while let Some(c) = check(&pending).unwrap() {
                let (f, len) = parse(&pending).unwrap().unwrap();
                prop_assert_eq!(len, c.len);
                got.push(f);
                pending.drain(..len);
            }
        }
        prop_assert!(pending.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = check(&bytes);
        let _ = parse(&bytes);
    }
}
