//! The sign-off's calls: signing keys, delegations (代签), the signed forms' pieces, and
//! the notices that tell a user what happened to their keys and password.

use bytes::Bytes;
use jsjb_core::letter::LetterId;
use jsjb_proto::{
    AckNoticesRequest, Delegation, DelegationRequest, Notice, RegisterKeyRequest, SigningKey,
};
use reqwest::Method;

use super::{ClientError, ServerClient};

impl ServerClient {
    /// `POST /keys`: registers the public half of a key made on this workstation
    /// (`pending` until two independent admins have approved it).
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

    /// `GET /me/notices`: what happened to the user's own account (signing keys
    /// registered, activated, revoked; the password reset by an admin), not yet read.
    pub async fn notices(&self) -> Result<Vec<Notice>, ClientError> {
        self.json(self.request(Method::GET, self.url("/me/notices")))
            .await
    }

    /// `POST /me/notices/ack`: the user has read the notices up to `up_to`.
    pub async fn acknowledge_notices(&self, up_to: i64) -> Result<(), ClientError> {
        self.send(
            self.request(Method::POST, self.url("/me/notices/ack"))
                .json(&AckNoticesRequest { up_to }),
        )
        .await
        .map(drop)
    }

    /// `GET /delegations`: the grants the user is part of.
    pub async fn delegations(&self) -> Result<Vec<Delegation>, ClientError> {
        self.json(self.request(Method::GET, self.url("/delegations")))
            .await
    }

    /// `POST /delegations`: the chief lets a deputy of the unit sign (代签) for a period.
    pub async fn grant_delegation(
        &self,
        request: &DelegationRequest,
    ) -> Result<Delegation, ClientError> {
        self.json(
            self.request(Method::POST, self.url("/delegations"))
                .json(request),
        )
        .await
    }

    /// `POST /delegations/{id}/revoke`: the grant ends now.
    pub async fn revoke_delegation(&self, id: i64) -> Result<Delegation, ClientError> {
        self.json(self.request(Method::POST, self.url(&format!("/delegations/{id}/revoke"))))
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
