//! GET /v1/plans.

use schemars::JsonSchema;
use serde::Serialize;

use crate::db::plans::{Plan as Stored, PlanLimits};

/// A plan's limits.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub devices_per_account: i64,
    pub ws_connections_per_user: i64,
    pub upload_bytes_per_account: i64,
}

impl From<&PlanLimits> for Limits {
    fn from(l: &PlanLimits) -> Self {
        Limits {
            devices_per_account: l.devices_per_account,
            ws_connections_per_user: l.ws_connections_per_user,
            upload_bytes_per_account: l.upload_bytes_per_account,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub limits: Limits,
}

impl From<Stored> for Plan {
    fn from(p: Stored) -> Self {
        Plan { limits: (&p.limits).into(), id: p.limits.plan, name: p.name }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct PlanList {
    pub plans: Vec<Plan>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, to_string, to_value};

    use super::*;
    use crate::app::schema::{conforms, response_schema};

    fn plans() -> PlanList {
        let limits = PlanLimits {
            plan: "basic".into(),
            devices_per_account: 10,
            ws_connections_per_user: 20,
            upload_bytes_per_account: 30,
        };
        PlanList { plans: vec![Stored { name: "Basic".into(), limits }.into()] }
    }

    /// The typed body serializes to the very bytes the `json!` body it replaces did.
    #[test]
    fn bodies_are_byte_identical_to_the_json_they_replace() {
        let limits = json!({"devicesPerAccount": 10, "wsConnectionsPerUser": 20, "uploadBytesPerAccount": 30});
        assert_eq!(
            to_string(&plans()).unwrap(),
            json!({"plans": [{"id": "basic", "name": "Basic", "limits": limits}]}).to_string()
        );
    }

    #[test]
    fn bodies_conform_to_their_derived_schemas() {
        conforms(&response_schema::<PlanList>(), &to_value(plans()).unwrap()).unwrap();
        let bad = json!({"plans": [{"id": "basic", "name": "Basic", "limits": {}}]});
        assert!(conforms(&response_schema::<PlanList>(), &bad).is_err());
    }
}
