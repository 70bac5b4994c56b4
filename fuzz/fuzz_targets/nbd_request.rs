//! Fuzzes every NBD wire decoder in `strata_nbd::proto` on arbitrary bytes: none may panic,
//! and whatever decodes must encode back to the bytes it came from (for the fixed-layout
//! headers) or to bytes that decode to the same value (for the variable-length payloads).

#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_nbd::proto::{
    self, Info, InfoRequest, OptionHeader, OptionReplyHeader, Request, SimpleReply,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        assert_eq!(request.encode()[..], data[..proto::REQUEST_LEN]);
    }
    if let Ok(reply) = SimpleReply::decode(data) {
        assert_eq!(reply.encode()[..], data[..proto::SIMPLE_REPLY_LEN]);
    }
    if let Ok(flags) = proto::decode_greeting(data) {
        assert_eq!(
            proto::encode_greeting(flags)[..],
            data[..proto::GREETING_LEN]
        );
    }
    if let Ok(header) = OptionHeader::decode(data) {
        assert_eq!(header.encode()[..], data[..proto::OPTION_HEADER_LEN]);
    }
    if let Ok(header) = OptionReplyHeader::decode(data) {
        assert_eq!(header.encode()[..], data[..proto::OPTION_REPLY_HEADER_LEN]);
    }
    if let Ok(request) = InfoRequest::decode(data) {
        // The decoder demands an exact length, so the encoding is the input itself.
        assert_eq!(request.encode(), data);
    }
    if let Ok(info) = Info::decode(data) {
        assert_eq!(Info::decode(&info.encode()).ok(), Some(info));
    }
    if let Ok(name) = proto::decode_server_entry(data) {
        assert_eq!(
            proto::decode_server_entry(&proto::encode_server_entry(&name)).ok(),
            Some(name)
        );
    }
    let _ = proto::Command::from_wire(u16::from_be_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]));
});
