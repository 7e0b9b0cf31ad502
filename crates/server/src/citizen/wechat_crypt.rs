//! WeChat's encrypted message mode (消息加解密, 安全模式 and 兼容模式), as the official
//! account platform documents it and its `WXBizMsgCrypt` samples implement it. Pure:
//! no I/O, no clock, no randomness of its own (the caller passes the 16 random bytes).
//!
//! - The key: `EncodingAESKey` is 43 characters of base64; with `=` appended it decodes
//!   to the 32-byte AES-256 key. The IV is the key's first 16 bytes.
//! - A message: `random(16) ‖ len(xml) as u32 big-endian ‖ xml ‖ AppID`, padded PKCS#7
//!   style to a multiple of **32** bytes (WeChat's block, not AES's 16), AES-256-CBC
//!   with no further padding, base64.
//! - `msg_signature` = hex SHA-1 of `[token, timestamp, nonce, Encrypt]` sorted and
//!   concatenated (the plain `signature` covers only the first three).
//!
//! The AppID at the end of the plaintext is checked: a message encrypted for another
//! account (or under another key) is refused, never read.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha1::{Digest, Sha1};

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// WeChat pads to multiples of 32 bytes.
const BLOCK: usize = 32;
/// An encrypted message larger than this is refused before it is decoded (the callback's
/// whole body is at most 64 KiB).
const MAX_ENCRYPTED_CHARS: usize = 64 * 1024;

/// The key's 43 characters end with bits that a strict decoder refuses (the sample key
/// `…ABCDEFG` among them): WeChat's own SDKs decode it leniently.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    #[error("the EncodingAESKey must be 43 base64 characters")]
    Key,
    #[error("the encrypted message is not valid base64 or too long")]
    Encoding,
    #[error("the encrypted message does not decrypt to a WeChat message")]
    Malformed,
    #[error("the message was encrypted for another account")]
    OtherAccount,
}

/// One official account's message crypt: its token, key and AppID.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    appid: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

/// `hex(sha1(sort([token, timestamp, nonce, encrypt]).concat()))`.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

impl MsgCrypt {
    pub fn new(token: &str, encoding_aes_key: &str, appid: &str) -> Result<MsgCrypt, CryptError> {
        let encoding_aes_key = encoding_aes_key.trim();
        if encoding_aes_key.len() != 43 || !encoding_aes_key.is_ascii() {
            return Err(CryptError::Key);
        }
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptError::Key)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptError::Key)?;
        Ok(MsgCrypt {
            token: token.to_owned(),
            key,
            appid: appid.to_owned(),
        })
    }

    /// Whether `given` is the `msg_signature` of `encrypt` (compared in constant time).
    pub fn signature_matches(
        &self,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
        given: &str,
    ) -> bool {
        let expected = msg_signature(&self.token, timestamp, nonce, encrypt);
        jsjb_storage::citizen_tokens::same_digest(&expected, &given.to_ascii_lowercase())
    }

    /// The message XML inside `encrypt`, if it was encrypted under this key for this
    /// account.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptError> {
        if encrypt.len() > MAX_ENCRYPTED_CHARS {
            return Err(CryptError::Encoding);
        }
        let mut buf = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptError::Encoding)?;
        if buf.is_empty() || buf.len() % BLOCK != 0 {
            return Err(CryptError::Malformed);
        }
        let plain = Decryptor::new(&self.key.into(), self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptError::Malformed)?;
        let pad = usize::from(*plain.last().ok_or(CryptError::Malformed)?);
        if !(1..=BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptError::Malformed);
        }
        let content = plain
            .get(16..plain.len() - pad)
            .ok_or(CryptError::Malformed)?;
        let (len, rest) = content.split_at_checked(4).ok_or(CryptError::Malformed)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let (xml, appid) = rest.split_at_checked(len).ok_or(CryptError::Malformed)?;
        if appid != self.appid.as_bytes() {
            return Err(CryptError::OtherAccount);
        }
        String::from_utf8(xml.to_vec()).map_err(|_| CryptError::Malformed)
    }

    /// `xml` encrypted for this account, base64; `random` is the 16-byte prefix.
    pub fn encrypt(&self, xml: &str, random: [u8; 16]) -> String {
        let len = u32::try_from(xml.len()).unwrap_or(u32::MAX);
        let mut buf = Vec::with_capacity(xml.len() + self.appid.len() + 20 + BLOCK);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(xml.as_bytes());
        buf.extend_from_slice(self.appid.as_bytes());
        let pad = BLOCK - buf.len() % BLOCK;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let n = buf.len();
        let sealed = Encryptor::new(&self.key.into(), self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, n)
            // The length is a multiple of the block by construction.
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        STANDARD.encode(sealed)
    }

    /// The envelope of an encrypted passive reply: `Encrypt`, `MsgSignature`,
    /// `TimeStamp`, `Nonce`.
    pub fn reply_envelope(
        &self,
        xml: &str,
        random: [u8; 16],
        timestamp: i64,
        nonce: &str,
    ) -> String {
        let encrypt = self.encrypt(xml, random);
        let timestamp = timestamp.to_string();
        let signature = msg_signature(&self.token, &timestamp, nonce, &encrypt);
        format!(
            "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{signature}]]></MsgSignature><TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
    }

    fn iv(&self) -> &[u8; 16] {
        self.key[..16].try_into().unwrap_or(&[0; 16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The official sample (WXBizMsgCrypt's `Sample`, 消息加解密 示例代码).
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const TOKEN: &str = "spamtest";
    const APPID: &str = "wx2c2769f8efd9abc2";
    const TIMESTAMP: &str = "1409735669";
    const NONCE: &str = "1320562132";
    const MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
    pub const ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

    fn crypt() -> MsgCrypt {
        MsgCrypt::new(TOKEN, KEY, APPID).expect("the sample key")
    }

    #[test]
    fn the_official_sample_verifies_and_decrypts() {
        assert_eq!(
            msg_signature(TOKEN, TIMESTAMP, NONCE, ENCRYPT),
            MSG_SIGNATURE
        );
        assert!(crypt().signature_matches(TIMESTAMP, NONCE, ENCRYPT, MSG_SIGNATURE));
        assert!(!crypt().signature_matches("1409735670", NONCE, ENCRYPT, MSG_SIGNATURE));
        let xml = crypt().decrypt(ENCRYPT).expect("decrypts");
        let fields = super::super::wechat::parse_xml(xml.as_bytes()).expect("a message");
        assert_eq!(fields["ToUserName"], "gh_10f6c3c3ac5a");
        assert_eq!(fields["FromUserName"], "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
        assert_eq!(fields["CreateTime"], "1409735668");
        assert_eq!(fields["MsgType"], "text");
        assert_eq!(fields["Content"], "abcdteT");
        assert_eq!(fields["MsgId"], "6054768590064713728");
    }

    #[test]
    fn another_account_or_key_is_refused() {
        let other = MsgCrypt::new(TOKEN, KEY, "wx0000000000000000").expect("key");
        assert_eq!(other.decrypt(ENCRYPT), Err(CryptError::OtherAccount));
        let other_key = MsgCrypt::new(TOKEN, "bcdefghijklmnopqrstuvwxyz0123456789ABCDEFGa", APPID)
            .expect("key");
        assert!(other_key.decrypt(ENCRYPT).is_err());
        // One bit changed in the last block: the padding or the AppID no longer holds.
        let mut tampered = STANDARD.decode(ENCRYPT).expect("b64");
        let n = tampered.len();
        tampered[n - 20] ^= 1;
        assert!(crypt().decrypt(&STANDARD.encode(tampered)).is_err());
        assert_eq!(crypt().decrypt("not base64!"), Err(CryptError::Encoding));
        assert_eq!(crypt().decrypt(""), Err(CryptError::Malformed));
        assert_eq!(
            crypt().decrypt(&STANDARD.encode([0_u8; 16])),
            Err(CryptError::Malformed)
        );
    }

    #[test]
    fn keys_of_the_wrong_shape_are_refused() {
        assert_eq!(
            MsgCrypt::new(TOKEN, "short", APPID).err(),
            Some(CryptError::Key)
        );
        assert_eq!(
            MsgCrypt::new(TOKEN, &"é".repeat(22), APPID).err(),
            Some(CryptError::Key)
        );
        assert_eq!(
            MsgCrypt::new(TOKEN, &"*".repeat(43), APPID).err(),
            Some(CryptError::Key)
        );
    }

    #[test]
    fn what_it_encrypts_decrypts_at_every_padding_length() {
        for n in 0..80 {
            let xml = format!(
                "<xml><Content><![CDATA[{}]]></Content></xml>",
                "深".repeat(n)
            );
            let sealed = crypt().encrypt(&xml, [n as u8; 16]);
            assert_eq!(STANDARD.decode(&sealed).expect("b64").len() % BLOCK, 0);
            assert_eq!(crypt().decrypt(&sealed).as_deref(), Ok(xml.as_str()));
        }
    }

    #[test]
    fn the_reply_envelope_is_signed_over_its_own_parts() {
        let xml = "<xml><Content><![CDATA[已收到]]></Content></xml>";
        let envelope = crypt().reply_envelope(xml, [7; 16], 1_409_735_669, "12345");
        let f = super::super::wechat::parse_xml(envelope.as_bytes()).expect("xml");
        assert_eq!(f["TimeStamp"], "1409735669");
        assert_eq!(f["Nonce"], "12345");
        assert!(crypt().signature_matches(
            "1409735669",
            "12345",
            &f["Encrypt"],
            &f["MsgSignature"]
        ));
        assert_eq!(crypt().decrypt(&f["Encrypt"]).as_deref(), Ok(xml));
    }
}
