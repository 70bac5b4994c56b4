//! Table tests of the codec: every message round-trips, malformed input is an error, and the
//! request decoder survives arbitrary bytes.

use proptest::prelude::*;

use super::*;

#[test]
fn requests_round_trip_for_every_command() {
    let commands = [
        Command::Read,
        Command::Write,
        Command::Disconnect,
        Command::Flush,
        Command::Trim,
        Command::WriteZeroes,
        Command::Unknown(5),
        Command::Unknown(0xffff),
    ];
    for (i, command) in commands.into_iter().enumerate() {
        let request = Request {
            flags: NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE,
            command,
            handle: 0x0102_0304_0506_0708 + i as u64,
            offset: u64::MAX - i as u64,
            len_bytes: 4096 * i as u32,
        };
        let bytes = request.encode();
        assert_eq!(bytes[0..4], REQUEST_MAGIC.to_be_bytes());
        assert_eq!(Request::decode(&bytes).unwrap(), request);
    }
}

#[test]
fn request_wire_layout_matches_spec() {
    let request = Request {
        flags: 1,
        command: Command::Write,
        handle: 0xaabb,
        offset: 0x1000,
        len_bytes: 0x200,
    };
    let expected: [u8; REQUEST_LEN] = [
        0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0, 0x10,
        0, 0, 0, 2, 0,
    ];
    assert_eq!(request.encode(), expected);
}

#[test]
fn malformed_requests_are_errors() {
    let good = Request {
        flags: 0,
        command: Command::Read,
        handle: 1,
        offset: 0,
        len_bytes: 512,
    }
    .encode();
    let mut bad_magic = good;
    bad_magic[0] ^= 0xff;
    let cases: [&[u8]; 4] = [&[], &good[..4], &good[..REQUEST_LEN - 1], &bad_magic];
    for bytes in cases {
        let error = Request::decode(bytes).unwrap_err();
        assert_eq!(error.kind(), NbdErrorKind::Protocol, "{bytes:?}");
    }
}

#[test]
fn simple_replies_round_trip_and_reject_bad_magic() {
    let reply = SimpleReply {
        error: NBD_ENOSPC,
        handle: 77,
    };
    let bytes = reply.encode();
    assert_eq!(SimpleReply::decode(&bytes).unwrap(), reply);
    let mut bad = bytes;
    bad[3] ^= 1;
    assert!(SimpleReply::decode(&bad).is_err());
    assert!(SimpleReply::decode(&bytes[..15]).is_err());
}

#[test]
fn greeting_round_trips_and_rejects_oldstyle() {
    let bytes = encode_greeting(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    assert_eq!(decode_greeting(&bytes).unwrap(), 3);
    let mut oldstyle = bytes;
    oldstyle[8..16].copy_from_slice(&0x0000_4202_8186_1253_u64.to_be_bytes());
    assert!(decode_greeting(&oldstyle).is_err());
    assert!(decode_greeting(&bytes[..10]).is_err());
}

#[test]
fn option_headers_round_trip() {
    let header = OptionHeader {
        option: NBD_OPT_GO,
        len_bytes: 12,
    };
    assert_eq!(OptionHeader::decode(&header.encode()).unwrap(), header);
    let mut bad = header.encode();
    bad[0] = 0;
    assert!(OptionHeader::decode(&bad).is_err());

    let reply = OptionReplyHeader {
        option: NBD_OPT_LIST,
        reply_type: NBD_REP_ERR_UNSUP,
        len_bytes: 3,
    };
    assert_eq!(OptionReplyHeader::decode(&reply.encode()).unwrap(), reply);
    assert!(OptionReplyHeader::decode(&reply.encode()[..19]).is_err());
    assert!(is_error_reply(NBD_REP_ERR_UNKNOWN));
    assert!(!is_error_reply(NBD_REP_ACK));
}

#[test]
fn info_requests_round_trip_and_reject_bad_lengths() {
    let request = InfoRequest {
        name: "db01".into(),
        info_types: vec![NBD_INFO_BLOCK_SIZE, 9],
    };
    let bytes = request.encode();
    assert_eq!(bytes.len(), 4 + 4 + 2 + 4);
    assert_eq!(InfoRequest::decode(&bytes).unwrap(), request);

    let mut trailing = bytes.clone();
    trailing.push(0);
    let mut name_too_long = bytes.clone();
    name_too_long[3] = 200;
    let mut count_too_big = bytes.clone();
    count_too_big[9] = 3;
    let mut not_utf8 = bytes.clone();
    not_utf8[4] = 0xff;
    let huge_name = [0xff, 0xff, 0xff, 0xff];
    for bad in [
        &trailing[..],
        &name_too_long,
        &count_too_big,
        &not_utf8,
        &huge_name,
        &bytes[..9],
    ] {
        assert!(InfoRequest::decode(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn infos_round_trip() {
    let infos = [
        Info::Export {
            size_bytes: 1 << 40,
            transmission_flags: NBD_FLAG_HAS_FLAGS,
        },
        Info::Name("vol".into()),
        Info::Description("a volume".into()),
        Info::BlockSize {
            min_bytes: 1,
            preferred_bytes: 4096,
            max_bytes: 32 << 20,
        },
        Info::Other(42),
    ];
    for info in infos {
        assert_eq!(Info::decode(&info.encode()).unwrap(), info);
    }
    let export = Info::Export {
        size_bytes: 1,
        transmission_flags: 1,
    }
    .encode();
    assert!(Info::decode(&export[..export.len() - 1]).is_err());
    let mut long_export = export.clone();
    long_export.push(0);
    assert!(Info::decode(&long_export).is_err());
    assert!(Info::decode(&[0]).is_err());
}

#[test]
fn server_entries_and_export_name_reply() {
    assert_eq!(decode_server_entry(&encode_server_entry("a")).unwrap(), "a");
    assert!(decode_server_entry(&[0, 0, 0, 5, b'a']).is_err());
    assert_eq!(encode_export_name_reply(7, 1, true).len(), 10);
    let padded = encode_export_name_reply(7, 1, false);
    assert_eq!(padded.len(), 10 + EXPORT_NAME_PADDING_LEN);
    assert_eq!(padded[0..8], 7u64.to_be_bytes());
}

proptest! {
    #[test]
    fn request_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let decoded = Request::decode(&bytes);
        let valid = bytes.len() >= REQUEST_LEN && bytes[0..4] == REQUEST_MAGIC.to_be_bytes();
        prop_assert_eq!(decoded.is_ok(), valid);
        if let Ok(request) = decoded {
            prop_assert_eq!(&request.encode()[..], &bytes[..REQUEST_LEN]);
        }
    }

    #[test]
    fn option_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = InfoRequest::decode(&bytes);
        let _ = Info::decode(&bytes);
        let _ = decode_server_entry(&bytes);
        let _ = OptionReplyHeader::decode(&bytes);
        prop_assert!(OptionHeader::decode(&bytes).is_err() || bytes.len() >= OPTION_HEADER_LEN);
    }
}
