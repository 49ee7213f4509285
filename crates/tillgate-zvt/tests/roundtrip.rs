//! Property tests of the codec: every generated packet of either direction encodes and decodes back to
//! itself, and arbitrary bytes never panic the decoder (whatever decodes re-encodes to the same value).

use proptest::collection::vec;
use proptest::prelude::*;
use tillgate_zvt::codec::{
    Bmp, BmpList, Completion, EcrMessage, IntermediateStatus, IntermediateStatusMsg, Password,
    PasswordCommand, PtMessage, Registration, ResultCode, StatusEnquiry, Tag, TerminalStatus, Tlv,
    TlvItem, VersionStatus,
};

fn primitive_tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        any::<u8>()
            .prop_filter("primitive one-byte tag", |b| b & 0x1F != 0x1F
                && b & 0x20 == 0)
            .prop_map(|b| Tag(u32::from(b))),
        (0u32..0x80).prop_map(|b| Tag(0x1F00 | b)),
    ]
}

fn tlv_item() -> impl Strategy<Value = TlvItem> {
    (primitive_tag(), vec(any::<u8>(), 0..40))
        .prop_map(|(tag, value)| TlvItem::primitive(tag, value))
}

fn tlv() -> impl Strategy<Value = Tlv> {
    let container =
        vec(tlv_item(), 0..4).prop_map(|items| TlvItem::constructed(Tag::PRINT_TEXTS, items));
    vec(prop_oneof![tlv_item(), container], 0..4).prop_map(Tlv::new)
}

fn pan() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![Just('*'), proptest::char::range('0', '9')],
        0..19,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Tags with a known length whose data the codec keeps raw.
fn other_bmp() -> impl Strategy<Value = Bmp> {
    prop_oneof![
        any::<u8>().prop_map(|b| Bmp::Other {
            tag: 0x05,
            data: vec![b]
        }),
        vec(any::<u8>(), 15).prop_map(|data| Bmp::Other { tag: 0x2A, data }),
        vec(any::<u8>(), 0..99).prop_map(|data| Bmp::Other { tag: 0x23, data }),
        vec(any::<u8>(), 0..300).prop_map(|data| Bmp::Other { tag: 0x3C, data }),
    ]
}

fn bmp() -> impl Strategy<Value = Bmp> {
    prop_oneof![
        any::<u8>().prop_map(Bmp::Timeout),
        any::<u8>().prop_map(Bmp::MaxStatusInfos),
        any::<u8>().prop_map(Bmp::ServiceByte),
        (0u64..=999_999_999_999).prop_map(Bmp::Amount),
        tlv().prop_map(Bmp::Tlv),
        (0u32..=999_999).prop_map(Bmp::Trace),
        (0u32..=999_999).prop_map(Bmp::Time),
        (0u16..=9_999).prop_map(Bmp::Date),
        (0u16..=9_999).prop_map(Bmp::Expiry),
        (0u16..=9_999).prop_map(Bmp::CardSequence),
        any::<u8>().prop_map(Bmp::PaymentType),
        pan().prop_map(Bmp::Pan),
        any::<u8>().prop_map(|b| Bmp::ResultCode(ResultCode::from(b))),
        (0u32..=99_999_999).prop_map(Bmp::TerminalId),
        any::<[u8; 8]>().prop_map(Bmp::AuthAttribute),
        (0u16..=9_999).prop_map(Bmp::Currency),
        (0u16..=9_999).prop_map(Bmp::ReceiptNo),
        any::<u8>().prop_map(Bmp::CardType),
        vec(any::<u8>(), 0..99).prop_map(Bmp::CardName),
        other_bmp(),
    ]
}

fn bmps() -> impl Strategy<Value = BmpList> {
    vec(bmp(), 0..6).prop_map(BmpList::new)
}

fn password() -> impl Strategy<Value = Password> {
    (0u32..=999_999).prop_map(|v| Password::new(v).expect("six digits"))
}

fn password_command() -> impl Strategy<Value = PasswordCommand> {
    (password(), bmps()).prop_map(|(password, bmps)| PasswordCommand { password, bmps })
}

fn ecr_message() -> impl Strategy<Value = EcrMessage> {
    prop_oneof![
        (password(), any::<u8>(), 0u16..=9_999, bmps()).prop_map(
            |(password, config_byte, cc, bmps)| {
                EcrMessage::Registration(Registration {
                    password,
                    config_byte,
                    currency: Some(cc),
                    bmps,
                })
            }
        ),
        (password(), any::<u8>()).prop_map(|(password, config_byte)| {
            EcrMessage::Registration(Registration {
                password,
                config_byte,
                currency: None,
                bmps: BmpList::default(),
            })
        }),
        bmps().prop_map(EcrMessage::Authorization),
        bmps().prop_map(EcrMessage::Reservation),
        bmps().prop_map(EcrMessage::BookTotal),
        bmps().prop_map(EcrMessage::PreAuthReversal),
        Just(EcrMessage::LogOff),
        password_command().prop_map(EcrMessage::RepeatReceipt),
        password_command().prop_map(EcrMessage::Reversal),
        password_command().prop_map(EcrMessage::Refund),
        password_command().prop_map(EcrMessage::EndOfDay),
        bmps().prop_map(EcrMessage::Diagnosis),
        (password(), bmps()).prop_map(|(pw, bmps)| EcrMessage::StatusEnquiry(StatusEnquiry {
            password: Some(pw),
            bmps
        })),
        Just(EcrMessage::Abort),
        Just(EcrMessage::Ack),
        any::<u8>().prop_map(EcrMessage::Nak),
    ]
}

fn completion_bmps() -> impl Strategy<Value = BmpList> {
    // Without a version, a completion cannot start with a BMP F0..FF (it would read as a length digit).
    bmps().prop_filter("no leading F-tag", |b| {
        b.fields.first().is_none_or(|f| f.tag() >> 4 != 0xF)
    })
}

fn pt_message() -> impl Strategy<Value = PtMessage> {
    prop_oneof![
        Just(PtMessage::Ack),
        any::<u8>().prop_map(PtMessage::Nak),
        (any::<u8>(), any::<u8>(), bmps()).prop_map(|(status, timeout, bmps)| {
            PtMessage::IntermediateStatus(IntermediateStatusMsg {
                status: IntermediateStatus(status),
                timeout: Some(timeout),
                bmps,
            })
        }),
        any::<u8>().prop_map(
            |status| PtMessage::IntermediateStatus(IntermediateStatusMsg {
                status: IntermediateStatus(status),
                timeout: None,
                bmps: BmpList::default(),
            })
        ),
        bmps().prop_map(PtMessage::StatusInformation),
        (any::<u8>(), vec(any::<u8>(), 0..80))
            .prop_map(|(attribute, text)| PtMessage::PrintLine { attribute, text }),
        bmps().prop_map(PtMessage::PrintTextBlock),
        completion_bmps().prop_map(|bmps| PtMessage::Completion(Completion {
            version: None,
            bmps
        })),
        (vec(any::<u8>(), 0..60), any::<u8>(), bmps()).prop_map(|(sw, status, bmps)| {
            PtMessage::Completion(Completion {
                version: Some(VersionStatus {
                    sw_version: sw,
                    terminal_status: TerminalStatus::from(status),
                }),
                bmps,
            })
        }),
        (any::<u8>(), bmps()).prop_map(|(b, bmps)| PtMessage::Abort {
            result: ResultCode::from(b),
            bmps
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ecr_messages_round_trip(msg in ecr_message()) {
        let bytes = msg.encode().expect("generated packets encode");
        prop_assert_eq!(EcrMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn pt_messages_round_trip(msg in pt_message()) {
        let bytes = msg.encode().expect("generated packets encode");
        prop_assert_eq!(PtMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = EcrMessage::decode(&bytes) {
            let again = msg.encode().expect("a decoded packet re-encodes");
            prop_assert_eq!(EcrMessage::decode(&again), Ok(msg));
        }
        if let Ok(msg) = PtMessage::decode(&bytes) {
            let again = msg.encode().expect("a decoded packet re-encodes");
            prop_assert_eq!(PtMessage::decode(&again), Ok(msg));
        }
    }
}
