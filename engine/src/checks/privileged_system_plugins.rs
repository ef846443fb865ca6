use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::prelude::*;
use crate::checks::support::pod::containers;

pub static CHECK: Check = Check {
    id: "privileged-system-plugins",
    risk: 4,
    category: CheckCategory::Cluster,
    source: Source::Seed,
    seed_item: "Be aware of which third-party plugins (CNI, CSI, CRI) are running, what access they have, \
                and whether they are privileged",
    title: "Inventory of privileged system plugins and the cluster roles they hold",
    fails_when: "a DaemonSet or Deployment in a system namespace runs privileged or with host access (hostNetwork, \
                 hostPID, hostIPC, hostPath); each is listed with the ClusterRoles its ServiceAccount holds",
    remediation: "Review each listed plugin: keep only the ones you need, at the lowest privilege and RBAC they work \
                  with; waive the reviewed ones with a SecurityException.",
    rule: "The Pod Security Standards baseline controls (privileged, host namespaces, hostPath) applied to the add-ons in system namespaces, which are usually exempt from Pod Security Admission. Source: `staging/src/k8s.io/pod-security-admission/policy/check_privileged.go`, `check_hostNamespaces.go`, `check_hostPathVolumes.go`.",
    enabled_by_default: true,
    scope: CheckScope::WholeCluster,
    reads: &[Kind::DaemonSet, Kind::Deployment, Kind::ClusterRoleBinding],
    evaluators: &[Evaluator::Cluster(evaluate)],
};

fn evaluate(ctx: &Ctx) -> Outcome {
    let mut violations = Vec::new();
    for namespace in &ctx.policy.parameters.system_namespaces {
        let daemon_sets = ctx
            .index
            .daemon_sets
            .in_namespace(namespace)
            .map(|d| ("DaemonSet", &d.metadata, d.decode_body().map(|d| d.spec.and_then(|s| s.template.spec))));
        let deployments = ctx
            .index
            .deployments
            .in_namespace(namespace)
            .map(|d| ("Deployment", &d.metadata, d.decode_body().map(|d| d.spec.and_then(|s| s.template.spec))));
        for (kind, meta, spec) in daemon_sets.chain(deployments) {
            let spec = match spec {
                Ok(Some(spec)) => spec,
                Ok(None) => continue,
                Err(error) => {
                    let name = meta.name.as_deref().unwrap_or("");
                    return Outcome::error(format!("{kind} {namespace}/{name}: {error}"));
                }
            };
            let access = host_access(&spec);
            if !access.is_empty() {
                violations.push(Violation::object(describe(ctx, kind, namespace, meta, &spec, &access)));
            }
        }
    }
    Outcome::from_violations(violations)
}

/// What the pod spec gets of the host: privileged containers, host namespaces, hostPath volumes.
fn host_access(spec: &PodSpec) -> Vec<String> {
    let mut access: Vec<String> = containers(spec)
        .filter(|c| c.security_context.and_then(|s| s.privileged) == Some(true))
        .map(|c| format!("privileged {}", c.describe()))
        .collect();
    for (enabled, name) in [(spec.host_network, "hostNetwork"), (spec.host_pid, "hostPID"), (spec.host_ipc, "hostIPC")]
    {
        if enabled == Some(true) {
            access.push(name.to_string());
        }
    }
    let host_paths: Vec<&str> =
        spec.volumes.iter().flatten().filter_map(|v| v.host_path.as_ref()).map(|h| h.path.as_str()).collect();
    if !host_paths.is_empty() {
        access.push(format!("hostPath {}", host_paths.join(", ")));
    }
    access
}

fn describe(ctx: &Ctx, kind: &str, namespace: &str, meta: &ObjectMeta, spec: &PodSpec, access: &[String]) -> String {
    let name = meta.name.as_deref().unwrap_or("");
    let account = spec
        .service_account_name
        .as_deref()
        .or(spec.service_account.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let roles = cluster_roles_of(ctx, namespace, account);
    let roles =
        if roles.is_empty() { "no ClusterRoles".to_string() } else { format!("ClusterRoles {}", roles.join(", ")) };
    format!("{kind} {namespace}/{name}: {}; ServiceAccount {account} holds {roles}", access.join(", "))
}

/// The ClusterRoles bound to a ServiceAccount directly by ClusterRoleBindings, sorted and once each.
fn cluster_roles_of(ctx: &Ctx, namespace: &str, account: &str) -> Vec<String> {
    let mut roles: Vec<String> =
        ctx.index
            .cluster_role_bindings
            .iter()
            .filter(|b| {
                b.subjects.iter().flatten().any(|s| {
                    s.kind == "ServiceAccount" && s.name == account && s.namespace.as_deref() == Some(namespace)
                })
            })
            .map(|b| b.role_ref.name.clone())
            .collect();
    roles.sort();
    roles.dedup();
    roles
}
