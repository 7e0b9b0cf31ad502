//! The sign-off's calls: signing keys, delegations (代签) and the signed forms' pieces.

use bytes::Bytes;
use jsjb_core::letter::LetterId;
use jsjb_proto::{Delegation, RegisterKeyRequest, SigningKey};
use reqwest::Method;

use super::{ClientError, ServerClient};

impl ServerClient {
    /// `POST /keys`: registers the public half of a key made on this workstation
    /// (`pending` until an admin activates it).
    pub async fn register_key(
        &self,
        request: &RegisterKeyRequest,
    ) -> Result<SigningKey, ClientError> {
        self.json(self.request(Method::POST, self.url("/keys")).json(request))
            .await
    }

    /// `GET /keys`: the user's own keys (an admin's: those of their units).
    pub async fn keys(&self) -> Result<Vec<SigningKey>, ClientError> {
        self.json(self.request(Method::GET, self.url("/keys")))
            .await
    }

    /// `GET /delegations`: the grants the user is part of.
    pub async fn delegations(&self) -> Result<Vec<Delegation>, ClientError> {
        self.json(self.request(Method::GET, self.url("/delegations")))
            .await
    }

    /// `GET /letters/{id}/signed-forms/{seq}/handwriting`: the PNG drawn on the pad.
    pub async fn signed_form_handwriting(
        &self,
        letter: LetterId,
        seq: u32,
    ) -> Result<Bytes, ClientError> {
        self.bytes_of(&format!(
            "/letters/{}/signed-forms/{seq}/handwriting",
            letter.0
        ))
        .await
    }

    /// `GET /letters/{id}/signed-forms/{seq}/pdf`: the printable form (409
    /// `pdf_font_missing` when the server has no CJK font).
    pub async fn signed_form_pdf(&self, letter: LetterId, seq: u32) -> Result<Bytes, ClientError> {
        self.bytes_of(&format!("/letters/{}/signed-forms/{seq}/pdf", letter.0))
            .await
    }

    async fn bytes_of(&self, path: &str) -> Result<Bytes, ClientError> {
        let response = self.send(self.request(Method::GET, self.url(path))).await?;
        response.bytes().await.map_err(super::unreachable)
    }
}
