//! The worked example of docs/PROTOCOL.md ("Merchant notifications"): the numbers a merchant
//! checks its own verification against must be the ones the notifier produces.

use sluice_notify::{VerifyError, sign, verify};

const SECRET: &str = "whsec_5f0c0a6e1d2b4c7a9e8f3d2c1b0a99887766554433221100ffeeddccbbaa0011";
const BODY: &str = r#"{"id":"ntf_5182_1","type":"payment.succeeded","created_at":"2026-12-06T10:00:00.250000000Z","created_at_ns":1796551200250000000,"merchant_id":1001,"order_id":2043,"request_id":90001,"amount_minor":10000,"currency":156,"status":"succeeded","reason":"None","split":[{"role":"Platform","party_id":0,"amount_minor":60},{"role":"Merchant","party_id":1001,"amount_minor":9880},{"role":"ChannelFee","party_id":0,"amount_minor":60}],"sequence":5182}"#;
const T: u64 = 1_796_551_201;
const HEADER: &str =
    "t=1796551201,v1=844997936700b8047f4e584a0654407a1aaaf553a286e30de750502c36b06802";

#[test]
fn the_documented_example_signs_and_verifies_as_documented() {
    let doc = include_str!("../../docs/PROTOCOL.md");
    assert!(doc.contains(SECRET) && doc.contains(BODY) && doc.contains(HEADER));
    assert!(doc.contains(&format!("one line, {} bytes", BODY.len())));
    assert_eq!(
        sign(&[SECRET.as_bytes().to_vec()], T, BODY.as_bytes()),
        HEADER
    );
    assert_eq!(
        verify(HEADER, BODY.as_bytes(), SECRET.as_bytes(), T + 300, 300),
        Ok(())
    );
    assert!(matches!(
        verify(HEADER, BODY.as_bytes(), SECRET.as_bytes(), T + 301, 300),
        Err(VerifyError::OutsideTolerance { .. })
    ));
    let tampered = BODY.replace("10000", "10001");
    assert!(verify(HEADER, tampered.as_bytes(), SECRET.as_bytes(), T, 300).is_err());
}
