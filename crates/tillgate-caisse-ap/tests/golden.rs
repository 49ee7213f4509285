//! Golden frames: the example frames of the public Caisse-AP documentation (HiPay/Nepting, PayXpert),
//! decoded and re-encoded byte for byte.
use tillgate_caisse_ap::codec::{
    check_answer, Action, Answer, DecodeError, Fields, MessageError, Request, Status, Tag,
};

/// HiPay's payment request: 123.45 EUR from cash register 01.
const HIPAY_REQUEST: &[u8] = b"CZ0040300CJ012247300123456CA00201CB00512345CD0010CE003978";
/// HiPay's answer to a badly formatted request (AE=01, AF=09), AE/AF before the echo.
const HIPAY_BAD_FORMAT: &[u8] =
    b"CZ0040320CJ012999999999999AE00201AF00209CA00201CB00512345CD0010CE003978";

fn hipay_success() -> Vec<u8> {
    // HiPay's success answer with its ticket: ZT374 = CK003100 (8) + AK361 header (5) + 361 chars.
    let ak: String = "TElDS0VUIENMSUVOVA==".chars().cycle().take(361).collect();
    let zt = format!("CK003100AK361{ak}");
    assert_eq!(zt.len(), 374);
    format!(
        "CZ0040320CJ012999999999999CA00201CB00512345CC00300BCD0010CE003978AC006184117AE00210CG0071234567ZT374{zt}"
    )
    .into_bytes()
}

#[test]
fn hipay_payment_request_decodes_and_re_encodes_byte_for_byte() {
    let req = Request::decode(HIPAY_REQUEST).unwrap();
    assert_eq!(req.version, "0300");
    assert_eq!(req.ecr_id, "247300123456");
    assert_eq!(req.register, "01");
    assert_eq!(req.amount, Some(12345));
    assert_eq!(req.action, Action::Debit);
    assert_eq!(req.currency, Some(978));
    let mut ours = Request::new("0300", "01", Action::Debit);
    ours.ecr_id = "247300123456".into();
    ours.amount = Some(12345);
    ours.currency = Some(978);
    ours.answer_mode = None;
    assert_eq!(ours.encode().unwrap(), HIPAY_REQUEST);
}

#[test]
fn hipay_success_answer_carries_the_card_facts_and_the_ticket() {
    let bytes = hipay_success();
    let ans = Answer::decode(&bytes).unwrap();
    assert_eq!(ans.status, Status::Done);
    assert_eq!(ans.amount, Some(12345));
    assert_eq!(ans.application.as_deref(), Some("00B"));
    assert_eq!(ans.auth_code.as_deref(), Some("184117"));
    assert_eq!(ans.contract.as_deref(), Some("1234567"));
    let ticket = ans.ticket.as_ref().unwrap();
    assert_eq!(ticket.mode.as_deref(), Some("100"));
    assert_eq!(ticket.data.len(), 361);
    // The answer belongs to HiPay's request.
    check_answer(&Request::decode(HIPAY_REQUEST).unwrap(), &ans).unwrap();
    // And re-encodes to the same bytes, in the terminal's field order.
    assert_eq!(Fields::decode_message(&bytes).unwrap().encode(), bytes);
}

#[test]
fn hipay_bad_format_answer_is_a_refusal_with_af_09() {
    let ans = Answer::decode(HIPAY_BAD_FORMAT).unwrap();
    assert_eq!(ans.status, Status::NotDone);
    assert_eq!(ans.detail.as_deref(), Some("09"));
    assert_eq!(
        tillgate_caisse_ap::codec::detail_meaning("09"),
        "bad message format"
    );
    let f = Fields::decode_message(HIPAY_BAD_FORMAT).unwrap();
    assert_eq!(f.encode(), HIPAY_BAD_FORMAT);
}

#[test]
fn a_refused_answer_echoes_the_request() {
    let refused = b"CZ0040320CJ012999999999999CA00201CB00512345CD0010CE003978AE00201AF00204";
    let ans = Answer::decode(refused).unwrap();
    assert_eq!(
        (&ans.status, ans.detail.as_deref()),
        (&Status::NotDone, Some("04"))
    );
    check_answer(&Request::decode(HIPAY_REQUEST).unwrap(), &ans).unwrap();
}

#[test]
fn payxpert_fields_decode() {
    let f = Fields::decode(b"AC006A00395AI014A0000000421010CA00201CK003100CD0011BA0011AE00211")
        .unwrap();
    assert_eq!(f.get(Tag::AC), Some("A00395"));
    assert_eq!(f.get(Tag::AI), Some("A0000000421010"));
    assert_eq!(f.get(Tag::CK), Some("100"));
    assert_eq!(f.get(Tag::BA), Some("1"));
    assert_eq!(f.get(Tag::AE), Some("11"));
    // The constructed ticket of PayXpert's example: ZT617 = CK003100 + AK604.
    let ak = "A".repeat(604);
    let zt = format!("CZ0040320AE00210ZT617CK003100AK604{ak}");
    let ans = Answer::decode(zt.as_bytes()).unwrap();
    assert_eq!(ans.ticket.unwrap().data.len(), 604);
}

#[test]
fn an_answer_that_does_not_belong_to_the_request_is_refused() {
    let req = Request::decode(HIPAY_REQUEST).unwrap();
    let ok = Answer::decode(b"CZ0040320CA00201CB0070012345CD0010CE003978AE00210").unwrap();
    // Zero-padded amounts are the same amount.
    check_answer(&req, &ok).unwrap();
    for (bad, tag) in [
        (
            &b"CZ0040320CA00202CB00512345CD0010CE003978AE00210"[..],
            Tag::CA,
        ),
        (b"CZ0040320CA00201CB00512345CD0011CE003978AE00210", Tag::CD),
        (b"CZ0040320CA00201CB00512345CD0010CE003953AE00210", Tag::CE),
        (b"CZ0040320CA00201CB00512300CD0010CE003978AE00210", Tag::CB),
    ] {
        let ans = Answer::decode(bad).unwrap();
        assert_eq!(check_answer(&req, &ans).unwrap_err().tag, tag);
    }
}

#[test]
fn answers_without_a_status_or_with_bad_values_are_typed_errors() {
    assert_eq!(
        Answer::decode(b"CZ0040320CA00201").unwrap_err(),
        MessageError::Missing(Tag::AE)
    );
    assert!(matches!(
        Answer::decode(b"CZ0040320AE002XXCA00201").unwrap_err(),
        MessageError::BadValue { tag: Tag::AE, .. }
    ));
    assert!(matches!(
        Answer::decode(b"CZ0040320AE00210ZT004AK00").unwrap_err(),
        MessageError::Decode(DecodeError::Constructed { .. })
    ));
    assert!(matches!(
        Request::decode(b"CZ0040300CA00201CD002XY").unwrap_err(),
        MessageError::BadValue { tag: Tag::CD, .. }
    ));
}
