//! The admin console's calls (role `admin`): signing keys under dual control, users;
//! and every user's own password. The server checks role and scope on every one; the
//! client only carries them.

use jsjb_core::org::{Role, Tier, Unit, UnitId};
use jsjb_proto::routing::{
    RoutingRulesView, RoutingTestResult, SaveRoutingRequest, TestRoutingRequest,
};
use jsjb_proto::{
    AdminKey, AdminUser, AdminUserUpdated, ChangePasswordRequest, KeyActivation, RevokeRequest,
    SigningKey,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{ClientError, ServerClient};

impl ServerClient {
    /// `GET /admin/keys`: the keys of the admin's units, with owners and approvals.
    pub async fn admin_keys(&self) -> Result<Vec<AdminKey>, ClientError> {
        self.json(self.request(Method::GET, self.url("/admin/keys")))
            .await
    }

    /// `POST /keys/{id}/activate`: records this admin's approval; the key becomes active
    /// at the second approval by another, independent admin.
    pub async fn approve_key(&self, id: i64) -> Result<KeyActivation, ClientError> {
        self.json(self.request(Method::POST, self.url(&format!("/keys/{id}/activate"))))
            .await
    }

    /// `POST /keys/{id}/revoke` with the reason kept in the audit log.
    pub async fn revoke_key(&self, id: i64, reason: &str) -> Result<SigningKey, ClientError> {
        self.json(
            self.request(Method::POST, self.url(&format!("/keys/{id}/revoke")))
                .json(&RevokeRequest {
                    reason: reason.to_owned(),
                }),
        )
        .await
    }

    /// `GET /admin/users`: the users of the admin's units, with their last sign-in.
    pub async fn admin_users(&self) -> Result<Vec<AdminUser>, ClientError> {
        #[derive(Deserialize)]
        struct List {
            users: Vec<AdminUser>,
        }
        let list: List = self
            .json(self.request(Method::GET, self.url("/admin/users")))
            .await?;
        Ok(list.users)
    }

    /// `POST /admin/users`: a new account with an initial password the user must change.
    pub async fn create_user(&self, user: &NewAccount) -> Result<AdminUser, ClientError> {
        self.json(
            self.request(Method::POST, self.url("/admin/users"))
                .json(user),
        )
        .await
    }

    /// `POST /admin/users/{id}/active`: deactivates (ending the user's sessions) or
    /// reactivates, with the reason for the audit log.
    pub async fn set_user_active(
        &self,
        id: i64,
        active: bool,
        reason: &str,
    ) -> Result<AdminUser, ClientError> {
        self.json(
            self.request(Method::POST, self.url(&format!("/admin/users/{id}/active")))
                .json(&serde_json::json!({ "active": active, "reason": reason })),
        )
        .await
    }

    /// `POST /admin/users/{id}/password`: a new password the user must change at the
    /// next sign-in; their sessions end.
    pub async fn reset_password(&self, id: i64, password: &str) -> Result<(), ClientError> {
        self.send(
            self.request(
                Method::POST,
                self.url(&format!("/admin/users/{id}/password")),
            )
            .json(&serde_json::json!({ "password": password })),
        )
        .await
        .map(drop)
    }

    /// `POST /admin/units`: a new unit below `parent_id` (in the admin's subtree).
    pub async fn create_unit(
        &self,
        parent_id: i64,
        tier: Tier,
        name: &str,
    ) -> Result<Unit, ClientError> {
        let dto: UnitDto = self
            .json(
                self.request(Method::POST, self.url("/admin/units")).json(
                    &serde_json::json!({ "parent_id": parent_id, "tier": tier, "name": name }),
                ),
            )
            .await?;
        Ok(dto.into())
    }

    /// `POST /admin/units/{id}/name`: renames a unit, with the reason for the audit log.
    pub async fn rename_unit(
        &self,
        id: i64,
        name: &str,
        reason: &str,
    ) -> Result<Unit, ClientError> {
        let dto: UnitDto = self
            .json(
                self.request(Method::POST, self.url(&format!("/admin/units/{id}/name")))
                    .json(&serde_json::json!({ "name": name, "reason": reason })),
            )
            .await?;
        Ok(dto.into())
    }

    /// `POST /admin/units/{id}/parent`: moves a unit (a station to another branch).
    pub async fn move_unit(
        &self,
        id: i64,
        parent_id: i64,
        reason: &str,
    ) -> Result<Unit, ClientError> {
        let dto: UnitDto = self
            .json(
                self.request(Method::POST, self.url(&format!("/admin/units/{id}/parent")))
                    .json(&serde_json::json!({ "parent_id": parent_id, "reason": reason })),
            )
            .await?;
        Ok(dto.into())
    }

    /// `POST /admin/users/{id}/sessions/revoke` (强制下线): how many sessions ended.
    pub async fn revoke_user_sessions(&self, id: i64, reason: &str) -> Result<u32, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            sessions_revoked: u32,
        }
        let answer: Answer = self
            .json(
                self.request(
                    Method::POST,
                    self.url(&format!("/admin/users/{id}/sessions/revoke")),
                )
                .json(&serde_json::json!({ "reason": reason })),
            )
            .await?;
        Ok(answer.sessions_revoked)
    }

    /// `GET /admin/routing`: the routing rules in force (city admins).
    pub async fn routing_rules(&self) -> Result<RoutingRulesView, ClientError> {
        self.json(self.request(Method::GET, self.url("/admin/routing")))
            .await
    }

    /// `POST /admin/routing`: saves a new version, applied at once.
    pub async fn save_routing_rules(
        &self,
        request: &SaveRoutingRequest,
    ) -> Result<RoutingRulesView, ClientError> {
        self.json(
            self.request(Method::POST, self.url("/admin/routing"))
                .json(request),
        )
        .await
    }

    /// `POST /admin/routing/test`: which draft rule a sample letter meets.
    pub async fn test_routing_rules(
        &self,
        request: &TestRoutingRequest,
    ) -> Result<RoutingTestResult, ClientError> {
        self.json(
            self.request(Method::POST, self.url("/admin/routing/test"))
                .json(request),
        )
        .await
    }

    /// `POST /admin/units/{id}/active`: deactivates (or reactivates) a unit, with a reason.
    pub async fn set_unit_active(
        &self,
        id: i64,
        active: bool,
        reason: &str,
    ) -> Result<Unit, ClientError> {
        let dto: UnitDto = self
            .json(
                self.request(Method::POST, self.url(&format!("/admin/units/{id}/active")))
                    .json(&serde_json::json!({ "active": active, "reason": reason })),
            )
            .await?;
        Ok(dto.into())
    }

    /// `POST /admin/users/{id}`: changes a user's name, roles or unit (omitted: kept).
    pub async fn update_user(
        &self,
        id: i64,
        change: &UserUpdate,
    ) -> Result<AdminUserUpdated, ClientError> {
        self.json(
            self.request(Method::POST, self.url(&format!("/admin/users/{id}")))
                .json(change),
        )
        .await
    }

    /// `POST /me/password`: the user sets their own password.
    pub async fn change_password(
        &self,
        request: &ChangePasswordRequest,
    ) -> Result<(), ClientError> {
        self.send(
            self.request(Method::POST, self.url("/me/password"))
                .json(request),
        )
        .await
        .map(drop)
    }
}

/// `POST /admin/users/{id}`' body: what to change, and why.
#[derive(Debug, Clone, Serialize)]
pub struct UserUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Role>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<i64>,
    pub reason: String,
}

/// `POST /admin/users`' body.
#[derive(Debug, Clone, Serialize)]
pub struct NewAccount {
    pub unit_id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub password: String,
}

/// The admin API's unit (`parent_id`), as the rest of the desktop knows it (`Unit`).
#[derive(Debug, Deserialize)]
struct UnitDto {
    id: i64,
    parent_id: Option<i64>,
    tier: Tier,
    name: String,
    active: bool,
}

impl From<UnitDto> for Unit {
    fn from(u: UnitDto) -> Self {
        Unit {
            id: UnitId(u.id),
            parent: u.parent_id.map(UnitId),
            tier: u.tier,
            name: u.name,
            active: u.active,
        }
    }
}
