//! Alibaba Cloud SMS (阿里云短信服务): `SendSms` of the `dysmsapi` API, version
//! 2017-05-25, signed with the RPC signature v1 the provider documents (签名机制):
//!
//! 1. every parameter but `Signature`, sorted by name, each name and value encoded by
//!    the POP rule (RFC 3986: all but `A–Z a–z 0–9 - _ . ~` as `%XX`), joined as
//!    `name=value&…` — the canonical query;
//! 2. `StringToSign = METHOD & "%2F" & encode(canonical query)`, joined by `&`;
//! 3. `Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))`.
//!
//! The request is a form POST (the phone number stays out of any proxy's URL log); the
//! answer is JSON with `Code` `OK` and a `BizId` for the delivery receipt. What says
//! the message was not taken — no connection, a 503, a throttling code — is tried again
//! with a growing pause; what may come after it was taken (a time-out, another 5xx) is
//! not, so that a writer never gets two codes; a refusal (a wrong number, a template not
//! approved, the per-phone limit the gateway enforces itself) is final. Tested against
//! the provider's published examples and a local stand-in that checks each request as
//! the provider would (`tests/sms_gateway.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::config::SmsConfig;
use super::otp::{SmsError, SmsMessage, SmsSender, SmsTemplate, mask_phone};

/// Tries of one SMS, and the pause before the second (doubled each time after).
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// How long one try may take.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider's codes that say the message was not taken, so another try cannot
/// send it twice: its throttling and its being unavailable. (A time-out or an internal
/// error may come after the message was taken: not tried again.)
const RETRYABLE: &[&str] = &["Throttling", "Throttling.User", "ServiceUnavailable"];

#[derive(Debug, thiserror::Error)]
pub enum AliyunSettingsError {
    #[error("--sms-provider aliyun needs {0}")]
    Missing(&'static str),
    #[error("the SMS endpoint {0:?} is not an http(s) URL")]
    Endpoint(String),
}

pub struct AliyunSms {
    endpoint: reqwest::Url,
    access_key_id: String,
    access_key_secret: String,
    sign_name: String,
    letter_code: String,
    rating_code: String,
    /// The notices' template; without it notices fail visibly (the codes still go).
    notice_code: Option<String>,
    client: reqwest::Client,
}

impl AliyunSms {
    pub fn new(config: &SmsConfig) -> Result<AliyunSms, AliyunSettingsError> {
        let need = |value: &Option<String>, what: &'static str| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(AliyunSettingsError::Missing(what))
        };
        let endpoint = reqwest::Url::parse(&config.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| AliyunSettingsError::Endpoint(config.endpoint.clone()))?;
        Ok(AliyunSms {
            endpoint,
            access_key_id: need(&config.access_key_id, "JSJB_SMS_ACCESS_KEY_ID")?,
            access_key_secret: need(&config.access_key_secret, "JSJB_SMS_ACCESS_KEY_SECRET")?,
            sign_name: need(&config.sign_name, "JSJB_SMS_SIGN_NAME")?,
            letter_code: need(
                &config.template_letter_code,
                "JSJB_SMS_TEMPLATE_LETTER_CODE",
            )?,
            rating_code: need(
                &config.template_rating_code,
                "JSJB_SMS_TEMPLATE_RATING_CODE",
            )?,
            notice_code: need(&config.template_notice, "JSJB_SMS_TEMPLATE_NOTICE").ok(),
            client: reqwest::Client::builder()
                .timeout(TRY_TIMEOUT)
                .build()
                .map_err(|_| AliyunSettingsError::Endpoint(config.endpoint.clone()))?,
        })
    }

    fn template_code(&self, template: SmsTemplate) -> Option<&str> {
        match template {
            SmsTemplate::LetterCode => Some(&self.letter_code),
            SmsTemplate::RatingCode => Some(&self.rating_code),
            SmsTemplate::Notice => self.notice_code.as_deref(),
        }
    }

    /// The signed form of one try: a fresh nonce and time each (the provider refuses a
    /// nonce seen before, and a time more than 15 minutes off).
    fn form(
        &self,
        phone: &str,
        message: &SmsMessage,
        at: DateTime<Utc>,
    ) -> BTreeMap<String, String> {
        let template_param: serde_json::Map<String, serde_json::Value> = message
            .params
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value.as_str())))
            .collect();
        let mut params: BTreeMap<String, String> = [
            ("AccessKeyId", self.access_key_id.clone()),
            ("Action", "SendSms".to_owned()),
            ("Format", "JSON".to_owned()),
            ("PhoneNumbers", phone.to_owned()),
            ("RegionId", "cn-hangzhou".to_owned()),
            ("SignName", self.sign_name.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_owned()),
            ("SignatureNonce", nonce()),
            ("SignatureVersion", "1.0".to_owned()),
            (
                "TemplateCode",
                self.template_code(message.template)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            (
                "TemplateParam",
                serde_json::Value::Object(template_param).to_string(),
            ),
            ("Timestamp", at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            ("Version", "2017-05-25".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let signature = signature("POST", &params, &self.access_key_secret);
        params.insert("Signature".to_owned(), signature);
        params
    }
}

/// What one try came to.
enum Tried {
    Sent { biz_id: String },
    Again(String),
    Refused(String),
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "BizId", default)]
    biz_id: Option<String>,
}

#[async_trait]
impl SmsSender for AliyunSms {
    async fn send(&self, phone: &str, message: &SmsMessage) -> Result<(), SmsError> {
        if self.template_code(message.template).is_none() {
            return Err(SmsError(
                "no SMS template is configured for notices (JSJB_SMS_TEMPLATE_NOTICE)".to_owned(),
            ));
        }
        let mut pause = FIRST_PAUSE;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let form = self.form(phone, message, Utc::now());
            let tried = match self
                .client
                .post(self.endpoint.clone())
                .form(&form)
                .send()
                .await
            {
                // Not connected: the message was never sent. (No URL in the text: a
                // relay's address may carry credentials.)
                Err(e) if e.is_connect() => {
                    Tried::Again("the gateway could not be reached".to_owned())
                }
                Err(e) if e.is_timeout() => Tried::Refused(
                    "the gateway did not answer in time; it may have sent the SMS".to_owned(),
                ),
                Err(_) => Tried::Refused("the gateway's answer could not be read".to_owned()),
                Ok(res) => {
                    let status = res.status();
                    match res.json::<Answer>().await {
                        Ok(a) if a.code == "OK" => Tried::Sent {
                            biz_id: a.biz_id.unwrap_or_default(),
                        },
                        Ok(a) if RETRYABLE.contains(&a.code.as_str()) => {
                            Tried::Again(format!("the gateway answered {status} {}", a.code))
                        }
                        // The provider's code only: its message may quote the number.
                        Ok(a) => {
                            Tried::Refused(format!("the gateway refused it: {status} {}", a.code))
                        }
                        // Unavailable, said before the message was read (a 503 of the
                        // gateway or of a proxy in front of it).
                        Err(_) if status == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                            Tried::Again(format!("the gateway answered {status}"))
                        }
                        Err(_) => {
                            Tried::Refused(format!("the gateway answered {status}, not its JSON"))
                        }
                    }
                }
            };
            match tried {
                Tried::Sent { biz_id } => {
                    metrics::counter!("jsjb_sms_total", "provider" => "aliyun", "outcome" => "sent")
                        .increment(1);
                    tracing::info!(target: "jsjb::sms", phone = %mask_phone(phone), %biz_id, attempt, "SMS taken by the gateway");
                    return Ok(());
                }
                Tried::Refused(why) => {
                    metrics::counter!("jsjb_sms_total", "provider" => "aliyun", "outcome" => "refused")
                        .increment(1);
                    tracing::warn!(target: "jsjb::sms", phone = %mask_phone(phone), %why, "SMS refused");
                    return Err(SmsError(why));
                }
                Tried::Again(why) => {
                    tracing::warn!(target: "jsjb::sms", phone = %mask_phone(phone), %why, attempt, "SMS not taken; trying again");
                    last = why;
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        metrics::counter!("jsjb_sms_total", "provider" => "aliyun", "outcome" => "failed")
            .increment(1);
        Err(SmsError(format!("{last} ({ATTEMPTS} tries)")))
    }
}

/// 128 random bits, as hex: unique per request, as the provider requires.
fn nonce() -> String {
    use rand_core::{OsRng, RngCore};
    let mut raw = [0_u8; 16];
    OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The POP rule: RFC 3986's unreserved characters stay, every other byte is `%XX`.
pub fn pop_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The string the signature is made over, for `params` sorted by name (`Signature`
/// itself left out).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
        .filter(|(name, _)| name.as_str() != "Signature")
        .map(|(name, value)| format!("{}={}", pop_encode(name), pop_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&{}&{}", pop_encode("/"), pop_encode(&canonical))
}

/// `base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The example of the SMS API's signature document (签名机制, SendSms, GET).
    #[test]
    fn the_sms_documents_example_signs_as_published() {
        let p = params(&[
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]);
        assert_eq!(
            string_to_sign("GET", &p),
            "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
        );
        assert_eq!(
            signature("GET", &p, "testSecret"),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
    }

    /// The example of the RPC signature document (ECS DescribeRegions).
    #[test]
    fn the_rpc_documents_example_signs_as_published() {
        let p = params(&[
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]);
        assert_eq!(
            signature("GET", &p, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        // The signature itself is never signed.
        let mut signed = p.clone();
        signed.insert("Signature".to_owned(), "old".to_owned());
        assert_eq!(
            signature("GET", &signed, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn the_pop_rule_encodes_all_but_the_unreserved() {
        assert_eq!(pop_encode("a b"), "a%20b");
        assert_eq!(pop_encode("*"), "%2A");
        assert_eq!(pop_encode("~-_."), "~-_.");
        assert_eq!(pop_encode("/=&+"), "%2F%3D%26%2B");
        assert_eq!(pop_encode("派"), "%E6%B4%BE");
    }

    #[test]
    fn every_setting_is_required() {
        let mut config = SmsConfig {
            provider: super::super::config::SmsProvider::Aliyun,
            access_key_id: Some("LTAI-test".into()),
            access_key_secret: Some("secret".into()),
            sign_name: Some("深圳公安局长信箱".into()),
            template_letter_code: Some("SMS_1".into()),
            template_rating_code: Some("SMS_2".into()),
            template_notice: None,
            ..SmsConfig::default()
        };
        assert!(AliyunSms::new(&config).is_ok());
        config.template_rating_code = Some("  ".into());
        assert!(matches!(
            AliyunSms::new(&config),
            Err(AliyunSettingsError::Missing(
                "JSJB_SMS_TEMPLATE_RATING_CODE"
            ))
        ));
        config.template_rating_code = Some("SMS_2".into());
        config.endpoint = "ftp://gateway".into();
        assert!(matches!(
            AliyunSms::new(&config),
            Err(AliyunSettingsError::Endpoint(_))
        ));
    }
}
