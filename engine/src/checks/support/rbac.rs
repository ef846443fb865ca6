//! RBAC semantics shared by the RBAC checks and the operator: how a rule matches a request (as the API
//! server's authorizer does), which role a binding grants, which bindings reach a ServiceAccount, and which
//! rules are dangerous.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, RoleBinding, Subject};

use crate::checks::support::rbac_defaults;
use crate::input::index::Index;
use crate::subject::{BindingView, RoleView};

/// The core (`""`) API group.
pub const CORE: &str = "";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const CERTIFICATES_GROUP: &str = "certificates.k8s.io";
const WILDCARD: &str = "*";

/// The ClusterRoles bound to `system:authenticated` for API discovery; they grant nothing sensitive.
pub const DISCOVERY_ROLES: [&str; 3] = ["system:discovery", "system:basic-user", "system:public-info-viewer"];

/// Verbs that grant or assume permissions beyond the holder's own.
const ESCALATION_VERBS: [&str; 3] = ["escalate", "bind", "impersonate"];

/// Where each escalation verb means something: `escalate`/`bind` on roles, `impersonate` on identities.
const ESCALATION_TARGETS: [(&str, &str, &str); 8] = [
    ("escalate", RBAC_GROUP, "roles"),
    ("escalate", RBAC_GROUP, "clusterroles"),
    ("bind", RBAC_GROUP, "roles"),
    ("bind", RBAC_GROUP, "clusterroles"),
    ("impersonate", CORE, "users"),
    ("impersonate", CORE, "groups"),
    ("impersonate", CORE, "serviceaccounts"),
    ("impersonate", "authentication.k8s.io", "uids"),
];

/// Resources whose creation starts pods, which may run as any ServiceAccount of their namespace.
const POD_CREATING_RESOURCES: [(&str, &str); 8] = [
    (CORE, "pods"),
    (CORE, "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
];

/// Verbs on `serviceaccounts` that count as using ServiceAccounts for [`privilege_escalations`].
const SERVICE_ACCOUNT_USE_VERBS: [&str; 4] = ["get", "list", "watch", "use"];

const SECRET_READ_VERBS: [&str; 3] = ["get", "list", "watch"];
const EXEC_ATTACH_RESOURCES: [&str; 2] = ["pods/exec", "pods/attach"];
const EXEC_ATTACH_VERBS: [&str; 2] = ["create", "get"];

fn list(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or(&[])
}

fn contains_or_wildcard(values: &[String], value: &str) -> bool {
    values.iter().any(|v| v == value || v == WILDCARD)
}

/// The authorizer's resource match: `*`, the exact `resource[/subresource]`, or `*/subresource`.
fn resource_matches(rule_resource: &str, resource: &str) -> bool {
    rule_resource == WILDCARD
        || rule_resource == resource
        || resource.split_once('/').is_some_and(|(_, sub)| rule_resource.strip_prefix("*/") == Some(sub))
}

/// True when the rule covers `resource` (`pods` or `pods/exec`) in API group `group` with some verb.
/// `resourceNames` are ignored: a rule limited to names still grants on those (see [`names_note`]).
pub fn covers(rule: &PolicyRule, group: &str, resource: &str) -> bool {
    !rule.verbs.is_empty()
        && contains_or_wildcard(list(&rule.api_groups), group)
        && list(&rule.resources).iter().any(|r| resource_matches(r, resource))
}

/// True when the rule allows `verb` on `resource` in `group`, as the RBAC authorizer matches it.
pub fn allows(rule: &PolicyRule, verb: &str, group: &str, resource: &str) -> bool {
    contains_or_wildcard(&rule.verbs, verb) && covers(rule, group, resource)
}

/// ` (limited to names a, b)` when the rule sets `resourceNames`, else empty.
pub fn names_note(rule: &PolicyRule) -> String {
    match list(&rule.resource_names) {
        [] => String::new(),
        names => format!(" (limited to names {})", names.join(", ")),
    }
}

/// ` (via *)` when the rule reaches `resource` only through a wildcard entry, else empty.
fn via_note(rule: &PolicyRule, resource: &str) -> String {
    let resources = list(&rule.resources);
    if resources.iter().any(|r| r == resource) {
        return String::new();
    }
    resources.iter().find(|r| resource_matches(r, resource)).map(|r| format!(" (via {r})")).unwrap_or_default()
}

/// The fields of a rule that hold `*`: `verbs`, `apiGroups`, `resources`, `nonResourceURLs`.
pub fn wildcard_fields(rule: &PolicyRule) -> Vec<&'static str> {
    [
        ("verbs", rule.verbs.as_slice()),
        ("apiGroups", list(&rule.api_groups)),
        ("resources", list(&rule.resources)),
        ("nonResourceURLs", list(&rule.non_resource_urls)),
    ]
    .into_iter()
    .filter(|(_, values)| values.iter().any(|v| v == WILDCARD))
    .map(|(field, _)| field)
    .collect()
}

/// True for `*` verbs on `*` resources in `*` API groups, unrestricted by names: what `cluster-admin` holds.
pub fn is_all_wildcard(rule: &PolicyRule) -> bool {
    let has_wildcard = |values: &[String]| values.iter().any(|v| v == WILDCARD);
    has_wildcard(&rule.verbs)
        && has_wildcard(list(&rule.api_groups))
        && has_wildcard(list(&rule.resources))
        && list(&rule.resource_names).is_empty()
}

/// The verbs among get, list and watch the rule allows on core `secrets`.
pub fn secret_read_verbs(rule: &PolicyRule) -> Vec<&'static str> {
    SECRET_READ_VERBS.into_iter().filter(|v| allows(rule, v, CORE, "secrets")).collect()
}

/// `get, list on secrets (via *)`: what [`secret_read_verbs`] found, for a message. `None` when nothing.
pub fn describe_secret_read(rule: &PolicyRule) -> Option<String> {
    let verbs = secret_read_verbs(rule);
    (!verbs.is_empty())
        .then(|| format!("{} on secrets{}{}", verbs.join(", "), via_note(rule, "secrets"), names_note(rule)))
}

/// `create, get on pods/exec, pods/attach`: the create/get grants on `pods/exec` and `pods/attach`.
/// `None` when the rule grants neither.
pub fn describe_exec_attach(rule: &PolicyRule) -> Option<String> {
    // A rule's verbs apply to each of its resources alike.
    let verbs: Vec<&str> = EXEC_ATTACH_VERBS.into_iter().filter(|v| contains_or_wildcard(&rule.verbs, v)).collect();
    let resources: Vec<&str> = EXEC_ATTACH_RESOURCES.into_iter().filter(|r| covers(rule, CORE, r)).collect();
    (!verbs.is_empty() && !resources.is_empty())
        .then(|| format!("{} on {}{}", verbs.join(", "), resources.join(", "), names_note(rule)))
}

/// The escalation verbs (`escalate`, `bind`, `impersonate`) the rule grants: named explicitly on any
/// resource, or through `*` verbs on a resource where the verb means something (roles, identities).
pub fn escalation_verbs(rule: &PolicyRule) -> Vec<&'static str> {
    let has_resources = !list(&rule.resources).is_empty();
    ESCALATION_VERBS
        .into_iter()
        .filter(|verb| {
            let named = has_resources && rule.verbs.iter().any(|v| v == verb);
            named
                || ESCALATION_TARGETS
                    .iter()
                    .any(|(v, group, resource)| v == verb && allows(rule, verb, group, resource))
        })
        .collect()
}

/// `rule 0` or `rules 0, 2`.
pub fn rule_indices(rules: &[usize]) -> String {
    let numbers: Vec<String> = rules.iter().map(usize::to_string).collect();
    match numbers.as_slice() {
        [one] => format!("rule {one}"),
        _ => format!("rules {}", numbers.join(", ")),
    }
}

/// `a, b, c` or `a, b, c and 2 more`.
fn short_list(items: &[&str], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..max].join(", "), items.len() - max)
    }
}

/// The ways a role's rules let its holder gain permissions it was not given, one message each:
/// - an all-wildcard rule (reported alone: it says all, and is left out of the paths below);
/// - `escalate`, `bind` or `impersonate` (see [`escalation_verbs`]);
/// - `create` on pods or a pod-creating workload resource, together with get/list/watch/use on
///   `serviceaccounts` in the same role: the holder can start pods that run as any ServiceAccount in reach
///   and so act with that ServiceAccount's permissions;
/// - `create` on `serviceaccounts/token` (mints tokens for any ServiceAccount in reach);
/// - any verb on `nodes/proxy` (the kubelet API, which runs commands in any pod of the node);
/// - `update` or `patch` on `certificatesigningrequests/approval` together with `approve` on `signers`
///   (approving one's own client certificate).
pub fn privilege_escalations(rules: &[PolicyRule]) -> Vec<String> {
    let mut found = Vec::new();
    let mut others: Vec<(usize, &PolicyRule)> = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if is_all_wildcard(rule) {
            found.push(format!("rule {i} allows * verbs on * resources, including escalate, bind and impersonate"));
        } else {
            others.push((i, rule));
        }
    }

    for &(i, rule) in &others {
        let verbs = escalation_verbs(rule);
        if !verbs.is_empty() {
            found.push(format!("rule {i} allows {}{}", verbs.join(", "), names_note(rule)));
        }
    }

    let mut creators = Vec::new();
    let mut created = Vec::new();
    for &(i, rule) in &others {
        let mut any = false;
        for (group, resource) in POD_CREATING_RESOURCES {
            if allows(rule, "create", group, resource) {
                any = true;
                if !created.contains(&resource) {
                    created.push(resource);
                }
            }
        }
        if any {
            creators.push(i);
        }
    }
    let sa_users: Vec<usize> = others
        .iter()
        .filter(|(_, rule)| SERVICE_ACCOUNT_USE_VERBS.iter().any(|v| allows(rule, v, CORE, "serviceaccounts")))
        .map(|(i, _)| *i)
        .collect();
    if !creators.is_empty() && !sa_users.is_empty() {
        found.push(format!(
            "{} create {} and {} use serviceaccounts: pods can run as any ServiceAccount",
            rule_indices(&creators),
            short_list(&created, 3),
            rule_indices(&sa_users)
        ));
    }

    for &(i, rule) in &others {
        if allows(rule, "create", CORE, "serviceaccounts/token") {
            found.push(format!("rule {i} allows create on serviceaccounts/token{}", names_note(rule)));
        }
        if covers(rule, CORE, "nodes/proxy") {
            found.push(format!(
                "rule {i} allows {} on nodes/proxy{}",
                rule.verbs.join(", "),
                via_note(rule, "nodes/proxy")
            ));
        }
    }

    let approval_writers: Vec<usize> = others
        .iter()
        .filter(|(_, rule)| {
            ["update", "patch"]
                .iter()
                .any(|v| allows(rule, v, CERTIFICATES_GROUP, "certificatesigningrequests/approval"))
        })
        .map(|(i, _)| *i)
        .collect();
    let signer_approvers: Vec<usize> = others
        .iter()
        .filter(|(_, rule)| allows(rule, "approve", CERTIFICATES_GROUP, "signers"))
        .map(|(i, _)| *i)
        .collect();
    if !approval_writers.is_empty() && !signer_approvers.is_empty() {
        found.push(format!(
            "{} update certificatesigningrequests/approval and {} approve signers: can approve its own certificates",
            rule_indices(&approval_writers),
            rule_indices(&signer_approvers)
        ));
    }
    found
}

/// A dangerous permission a ServiceAccount may hold through a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Danger {
    /// `cluster-admin` or an all-wildcard rule; it implies the others, so it is reported alone.
    ClusterAdmin,
    /// `*` in verbs or resources.
    Wildcard,
    SecretsRead,
    ExecAttach,
    /// `escalate`, `bind` or `impersonate`.
    Escalation,
}

impl Danger {
    /// What the holder may do, for a message: `may read secrets`.
    pub fn describe(self, namespace_scoped: bool) -> &'static str {
        match self {
            Danger::ClusterAdmin if namespace_scoped => "has every permission",
            Danger::ClusterAdmin => "is cluster-admin",
            Danger::Wildcard => "has wildcard permissions",
            Danger::SecretsRead => "may read secrets",
            Danger::ExecAttach => "may exec or attach into pods",
            Danger::Escalation => "may escalate privileges (escalate, bind or impersonate)",
        }
    }
}

/// The dangerous permissions a binding grants, each with the indices of the rules that grant it (empty for
/// `cluster-admin` named by the binding, which is known even when the role is not in the snapshot).
/// A role that is not found grants nothing known, so no danger.
pub fn binding_dangers(binding: &BindingView, role: Option<&RoleView>) -> Vec<(Danger, Vec<usize>)> {
    if is_cluster_admin_ref(binding) {
        return vec![(Danger::ClusterAdmin, Vec::new())];
    }
    role.map(|r| role_dangers(&r.rules)).unwrap_or_default()
}

/// The dangerous permissions in a role's rules, each with the indices of the rules that grant it.
pub fn role_dangers(rules: &[PolicyRule]) -> Vec<(Danger, Vec<usize>)> {
    let indices = |matches: &dyn Fn(&PolicyRule) -> bool| -> Vec<usize> {
        rules.iter().enumerate().filter(|(_, r)| matches(r)).map(|(i, _)| i).collect()
    };
    let all_wildcard = indices(&is_all_wildcard);
    if !all_wildcard.is_empty() {
        return vec![(Danger::ClusterAdmin, all_wildcard)];
    }
    let wildcard = |r: &PolicyRule| {
        let fields = wildcard_fields(r);
        fields.contains(&"verbs") || fields.contains(&"resources")
    };
    [
        (Danger::Wildcard, indices(&wildcard)),
        (Danger::SecretsRead, indices(&|r| !secret_read_verbs(r).is_empty())),
        (Danger::ExecAttach, indices(&|r| describe_exec_attach(r).is_some())),
        (Danger::Escalation, indices(&|r| !escalation_verbs(r).is_empty())),
    ]
    .into_iter()
    .filter(|(_, rules)| !rules.is_empty())
    .collect()
}

/// True when the binding's roleRef is the built-in ClusterRole `cluster-admin`.
pub fn is_cluster_admin_ref(binding: &BindingView) -> bool {
    binding.role_ref.kind == "ClusterRole" && binding.role_ref.name == "cluster-admin"
}

/// Why the binding grants cluster-admin, or `None`: its roleRef is `cluster-admin`, or the role it
/// references has an all-wildcard rule.
pub fn cluster_admin_reason(binding: &BindingView, role: Option<&RoleView>) -> Option<String> {
    if is_cluster_admin_ref(binding) {
        return Some("cluster-admin".into());
    }
    let role = role?;
    let rules: Vec<usize> = role.rules.iter().enumerate().filter(|(_, r)| is_all_wildcard(r)).map(|(i, _)| i).collect();
    (!rules.is_empty()).then(|| format!("all-wildcard {}, equivalent to cluster-admin", rule_indices(&rules)))
}

/// The role a binding references: a ClusterRole (the input's, else the bootstrap default of that name,
/// with aggregation resolved), or a Role in the binding's namespace. `None` when it is neither in the
/// input nor a default (or a ClusterRoleBinding names a Role, which is invalid).
pub fn resolve_role<'a>(index: &'a Index, binding: &BindingView) -> Option<RoleView<'a>> {
    let name = binding.role_ref.name.as_str();
    match (binding.role_ref.kind.as_str(), binding.namespace) {
        // A default ClusterRole is there even when the input does not list it.
        ("ClusterRole", _) => rbac_defaults::cluster_role(index, name).map(|r| RoleView {
            name: r.metadata.name.as_deref().unwrap_or(""),
            namespace: None,
            rules: rbac_defaults::effective_rules(index, r),
        }),
        ("Role", Some(namespace)) => index.roles.get(namespace, name).map(|r| RoleView {
            name: r.metadata.name.as_deref().unwrap_or(""),
            namespace: Some(r.metadata.namespace.as_deref().unwrap_or("default")),
            rules: std::borrow::Cow::Borrowed(r.rules.as_deref().unwrap_or(&[])),
        }),
        _ => None,
    }
}

/// The namespace of a ServiceAccount subject: its own, else (in a RoleBinding) the binding's.
pub fn subject_namespace<'a>(subject: &'a Subject, binding: &BindingView<'a>) -> Option<&'a str> {
    subject.namespace.as_deref().filter(|n| !n.is_empty()).or(binding.namespace)
}

/// The subject through which the binding reaches ServiceAccount `namespace/name`: the ServiceAccount
/// itself, its username `system:serviceaccount:<ns>:<name>`, or one of the groups every ServiceAccount of
/// the namespace is in (`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`).
pub fn subject_reaching_service_account<'a>(
    binding: &BindingView<'a>,
    namespace: &str,
    name: &str,
) -> Option<&'a Subject> {
    binding.subjects.iter().find(|s| match s.kind.as_str() {
        "ServiceAccount" => s.name == name && subject_namespace(s, binding) == Some(namespace),
        "User" => {
            s.name.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':'))
                == Some((namespace, name))
        }
        "Group" => {
            s.name == "system:serviceaccounts"
                || s.name == "system:authenticated"
                || s.name.strip_prefix("system:serviceaccounts:") == Some(namespace)
        }
        _ => false,
    })
}

/// A RoleBinding seen as a [`BindingView`].
pub fn role_binding_view(binding: &RoleBinding) -> BindingView<'_> {
    BindingView {
        name: binding.metadata.name.as_deref().unwrap_or(""),
        namespace: Some(binding.metadata.namespace.as_deref().unwrap_or("default")),
        role_ref: &binding.role_ref,
        subjects: binding.subjects.as_deref().unwrap_or(&[]),
    }
}

/// A ClusterRoleBinding seen as a [`BindingView`].
pub fn cluster_role_binding_view(binding: &ClusterRoleBinding) -> BindingView<'_> {
    BindingView {
        name: binding.metadata.name.as_deref().unwrap_or(""),
        namespace: None,
        role_ref: &binding.role_ref,
        subjects: binding.subjects.as_deref().unwrap_or(&[]),
    }
}

/// The bindings that can reach ServiceAccounts, by how their subjects name them: built once per index
/// state, so judging every workload does not read every binding each time.
#[derive(Debug, Default)]
pub struct AccountBindings {
    /// `(namespace, name)` of an account, named as a ServiceAccount or as its username.
    by_account: BTreeMap<(String, String), Vec<BindingKey>>,
    /// Named through `system:serviceaccounts:<namespace>`.
    by_namespace: BTreeMap<String, Vec<BindingKey>>,
    /// Named through `system:serviceaccounts` or `system:authenticated`: every account.
    everyone: Vec<BindingKey>,
}

/// A binding: `None` namespace for a ClusterRoleBinding.
type BindingKey = (Option<String>, String);

impl AccountBindings {
    fn build(index: &Index) -> AccountBindings {
        let mut out = AccountBindings::default();
        let views = index
            .role_bindings
            .iter()
            .map(|b| role_binding_view(b))
            .chain(index.cluster_role_bindings.iter().map(|b| cluster_role_binding_view(b)));
        for view in views {
            let key: BindingKey = (view.namespace.map(str::to_string), view.name.to_string());
            for subject in view.subjects {
                match subject.kind.as_str() {
                    "ServiceAccount" => {
                        if let Some(ns) = subject_namespace(subject, &view) {
                            out.by_account.entry((ns.to_string(), subject.name.clone())).or_default().push(key.clone());
                        }
                    }
                    "User" => {
                        if let Some((ns, sa)) =
                            subject.name.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':'))
                        {
                            out.by_account.entry((ns.to_string(), sa.to_string())).or_default().push(key.clone());
                        }
                    }
                    "Group" => match subject.name.as_str() {
                        "system:serviceaccounts" | "system:authenticated" => out.everyone.push(key.clone()),
                        group => {
                            if let Some(ns) = group.strip_prefix("system:serviceaccounts:") {
                                out.by_namespace.entry(ns.to_string()).or_default().push(key.clone());
                            }
                        }
                    },
                    _ => {}
                }
            }
        }
        out
    }
}

/// Every binding that grants ServiceAccount `namespace/name` permissions anywhere: RoleBindings in any
/// namespace (one in `prod` can grant an account of `apps` rights in `prod`: the authorizer matches the
/// subject, not the binding's namespace) and ClusterRoleBindings, whenever they name it (see
/// [`subject_reaching_service_account`]), `system:` bindings included. In index order, each once.
pub fn bindings_reaching_service_account<'a>(index: &'a Index, namespace: &str, name: &str) -> Vec<BindingView<'a>> {
    let lookup = index.derived.account_bindings.get_or_init(|| AccountBindings::build(index));
    let mut keys: Vec<&BindingKey> = lookup
        .by_account
        .get(&(namespace.to_string(), name.to_string()))
        .into_iter()
        .flatten()
        .chain(lookup.by_namespace.get(namespace).into_iter().flatten())
        .chain(lookup.everyone.iter())
        .collect();
    // RoleBindings first, then ClusterRoleBindings, each by namespace and name, as the stores order them.
    keys.sort_by(|a, b| (a.0.is_none(), a).cmp(&(b.0.is_none(), b)));
    keys.dedup();
    keys.into_iter()
        .filter_map(|(ns, binding)| match ns {
            Some(ns) => index.role_bindings.get(ns, binding).map(|b| role_binding_view(b)),
            None => index.cluster_role_bindings.get("", binding).map(|b| cluster_role_binding_view(b)),
        })
        .collect()
}

/// True for the identities that hold cluster-admin by design: Group `system:masters` (the bootstrap
/// policy's `cluster-admin` binding) and kubeadm's `kubeadm:cluster-admins`. Every other identity is a
/// subject like any other, `system:` ones included (`system:nodes`, `system:bootstrappers`,
/// `system:authenticated`, control-plane users): the defaults bind none of them to cluster-admin.
pub fn is_builtin_admin_subject(subject: &Subject) -> bool {
    subject.kind == "Group" && matches!(subject.name.as_str(), "system:masters" | "kubeadm:cluster-admins")
}

/// `User "alice"`, `Group "ops"`, `ServiceAccount "apps/builder"` (the namespace defaulted from the binding).
pub fn describe_subject(subject: &Subject, binding: &BindingView) -> String {
    match (subject.kind.as_str(), subject_namespace(subject, binding)) {
        ("ServiceAccount", Some(namespace)) => format!("ServiceAccount \"{namespace}/{}\"", subject.name),
        (kind, _) => format!("{kind} \"{}\"", subject.name),
    }
}

/// `ClusterRole "view"`: the binding's roleRef, for a message.
pub fn describe_role_ref(binding: &BindingView) -> String {
    format!("{} \"{}\"", binding.role_ref.kind, binding.role_ref.name)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleRef};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::input::object::KubeObject;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: Some(strings(groups)),
            resources: Some(strings(resources)),
            ..Default::default()
        }
    }

    fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
        Subject { kind: kind.into(), name: name.into(), namespace: namespace.map(Into::into), ..Default::default() }
    }

    fn role_ref(kind: &str, name: &str) -> RoleRef {
        RoleRef { api_group: RBAC_GROUP.into(), kind: kind.into(), name: name.into() }
    }

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta { name: Some(name.into()), namespace: namespace.map(Into::into), ..Default::default() }
    }

    #[test]
    fn rule_matching_follows_the_authorizer() {
        let exec = rule(&["create"], &[""], &["pods/exec"]);
        assert!(allows(&exec, "create", CORE, "pods/exec"));
        assert!(!allows(&exec, "create", CORE, "pods"));
        assert!(!allows(&exec, "get", CORE, "pods/exec"));
        assert!(!allows(&exec, "create", "apps", "pods/exec"));

        let any_sub = rule(&["get"], &[""], &["*/exec"]);
        assert!(allows(&any_sub, "get", CORE, "pods/exec"));
        assert!(!allows(&any_sub, "get", CORE, "pods"));
        assert!(!allows(&any_sub, "get", CORE, "pods/attach"));

        // `pods` does not cover its subresources, `pods/*` is no pattern, but `*` covers everything.
        assert!(!allows(&rule(&["create"], &[""], &["pods"]), "create", CORE, "pods/exec"));
        assert!(!allows(&rule(&["create"], &[""], &["pods/*"]), "create", CORE, "pods/exec"));
        assert!(allows(&rule(&["*"], &["*"], &["*"]), "create", CORE, "pods/exec"));

        let no_verbs = rule(&[], &["*"], &["*"]);
        assert!(!covers(&no_verbs, CORE, "secrets"));

        let urls =
            PolicyRule { verbs: strings(&["*"]), non_resource_urls: Some(strings(&["*"])), ..Default::default() };
        assert!(!covers(&urls, CORE, "secrets"));
        assert_eq!(wildcard_fields(&urls), ["verbs", "nonResourceURLs"]);
    }

    #[test]
    fn notes_explain_names_and_wildcards() {
        let mut limited = rule(&["get"], &[""], &["secrets"]);
        limited.resource_names = Some(strings(&["tls", "db"]));
        assert_eq!(describe_secret_read(&limited).unwrap(), "get on secrets (limited to names tls, db)");
        let broad = rule(&["get", "list"], &["", "apps"], &["*"]);
        assert_eq!(describe_secret_read(&broad).unwrap(), "get, list on secrets (via *)");
        assert_eq!(describe_secret_read(&rule(&["create"], &[""], &["secrets"])), None);
    }

    #[test]
    fn exec_and_attach_grants() {
        let both = rule(&["create", "get"], &[""], &["pods/exec", "pods/attach"]);
        assert_eq!(describe_exec_attach(&both).unwrap(), "create, get on pods/exec, pods/attach");
        let any_exec = rule(&["*"], &[""], &["*/exec", "pods/log"]);
        assert_eq!(describe_exec_attach(&any_exec).unwrap(), "create, get on pods/exec");
        assert_eq!(describe_exec_attach(&rule(&["get"], &[""], &["pods", "pods/log"])), None);
    }

    #[test]
    fn escalation_verbs_named_or_through_wildcard_verbs() {
        assert_eq!(escalation_verbs(&rule(&["bind"], &[RBAC_GROUP], &["clusterroles"])), ["bind"]);
        assert_eq!(escalation_verbs(&rule(&["impersonate"], &[""], &["users", "groups"])), ["impersonate"]);
        assert_eq!(escalation_verbs(&rule(&["*"], &[RBAC_GROUP], &["roles"])), ["escalate", "bind"]);
        // `*` verbs on resources where these verbs mean nothing grant no escalation.
        assert!(escalation_verbs(&rule(&["*"], &[""], &["configmaps"])).is_empty());
    }

    #[test]
    fn escalation_paths() {
        let pods_and_sa = [
            rule(&["create"], &["apps"], &["deployments"]),
            rule(&["get", "list"], &[""], &["serviceaccounts", "configmaps"]),
        ];
        assert_eq!(
            privilege_escalations(&pods_and_sa),
            ["rule 0 create deployments and rule 1 use serviceaccounts: pods can run as any ServiceAccount"]
        );
        // Creating pods alone, or reading ServiceAccounts alone, is not this path.
        assert!(privilege_escalations(&pods_and_sa[..1]).is_empty());
        assert!(privilege_escalations(&pods_and_sa[1..]).is_empty());

        let token = [rule(&["create"], &[""], &["serviceaccounts/token"])];
        assert_eq!(privilege_escalations(&token), ["rule 0 allows create on serviceaccounts/token"]);
        let proxy = [rule(&["get"], &[""], &["nodes/proxy"])];
        assert_eq!(privilege_escalations(&proxy), ["rule 0 allows get on nodes/proxy"]);

        let csr = [
            rule(&["update"], &[CERTIFICATES_GROUP], &["certificatesigningrequests/approval"]),
            rule(&["approve"], &[CERTIFICATES_GROUP], &["signers"]),
        ];
        assert_eq!(privilege_escalations(&csr).len(), 1);
        assert!(privilege_escalations(&csr[..1]).is_empty());

        // An all-wildcard rule is reported once, not once per path it opens.
        let all = [rule(&["*"], &["*"], &["*"])];
        assert_eq!(privilege_escalations(&all).len(), 1);
    }

    #[test]
    fn dangers_of_a_role() {
        assert_eq!(role_dangers(&[rule(&["*"], &["*"], &["*"])]), [(Danger::ClusterAdmin, vec![0])]);
        let rules = [
            rule(&["get"], &[""], &["configmaps"]),
            rule(&["list"], &[""], &["secrets"]),
            rule(&["create"], &[""], &["pods/exec"]),
            rule(&["*"], &["apps"], &["deployments"]),
            rule(&["bind"], &[RBAC_GROUP], &["clusterroles"]),
        ];
        assert_eq!(
            role_dangers(&rules),
            [
                (Danger::Wildcard, vec![3]),
                (Danger::SecretsRead, vec![1]),
                (Danger::ExecAttach, vec![2]),
                (Danger::Escalation, vec![4]),
            ]
        );
        assert!(role_dangers(&rules[..1]).is_empty());
    }

    #[test]
    fn subjects_reaching_a_service_account() {
        let reference = role_ref("ClusterRole", "view");
        let subjects = [subject("ServiceAccount", "builder", None)];
        let in_apps = BindingView { name: "b", namespace: Some("apps"), role_ref: &reference, subjects: &subjects };
        assert!(subject_reaching_service_account(&in_apps, "apps", "builder").is_some());
        assert!(subject_reaching_service_account(&in_apps, "apps", "default").is_none());
        // A ClusterRoleBinding's ServiceAccount subject has no namespace to default to.
        let cluster = BindingView { namespace: None, ..in_apps.clone() };
        assert!(subject_reaching_service_account(&cluster, "apps", "builder").is_none());

        for (kind, name, reaches) in [
            ("ServiceAccount", "builder", true),
            ("User", "system:serviceaccount:apps:builder", true),
            ("User", "system:serviceaccount:other:builder", false),
            ("Group", "system:serviceaccounts", true),
            ("Group", "system:serviceaccounts:apps", true),
            ("Group", "system:serviceaccounts:other", false),
            ("Group", "system:authenticated", true),
            ("Group", "system:unauthenticated", false),
            ("User", "builder", false),
        ] {
            let subjects = [subject(kind, name, Some("apps"))];
            let b = BindingView { name: "b", namespace: None, role_ref: &reference, subjects: &subjects };
            assert_eq!(subject_reaching_service_account(&b, "apps", "builder").is_some(), reaches, "{kind} {name}");
        }
    }

    #[test]
    fn bindings_and_roles_from_the_index() {
        let mut index = Index::new();
        index.insert(KubeObject::Role(Box::new(Role {
            metadata: meta(Some("apps"), "reader"),
            rules: Some(vec![rule(&["get"], &[""], &["secrets"])]),
        })));
        index.insert(KubeObject::ClusterRole(Box::new(ClusterRole {
            metadata: meta(None, "reader"),
            rules: Some(vec![rule(&["get"], &[""], &["pods"])]),
            ..Default::default()
        })));
        let local = |name: &str, kind: &str, namespace: &str| RoleBinding {
            metadata: meta(Some(namespace), name),
            role_ref: role_ref(kind, "reader"),
            subjects: Some(vec![subject("ServiceAccount", "builder", None)]),
        };
        index.insert(KubeObject::RoleBinding(Box::new(local("to-role", "Role", "apps"))));
        index.insert(KubeObject::RoleBinding(Box::new(local("to-cluster-role", "ClusterRole", "apps"))));
        index.insert(KubeObject::RoleBinding(Box::new(local("elsewhere", "Role", "other"))));
        index.insert(KubeObject::ClusterRoleBinding(Box::new(ClusterRoleBinding {
            metadata: meta(None, "all-sas"),
            role_ref: role_ref("ClusterRole", "missing"),
            subjects: Some(vec![subject("Group", "system:serviceaccounts", None)]),
        })));

        let reaching = bindings_reaching_service_account(&index, "apps", "builder");
        let names: Vec<&str> = reaching.iter().map(|b| b.name).collect();
        assert_eq!(names, ["to-cluster-role", "to-role", "all-sas"]);
        let roles: Vec<Option<(&str, &str)>> =
            reaching.iter().map(|b| resolve_role(&index, b).map(|r| (r.kind(), r.name))).collect();
        assert_eq!(roles, [Some(("ClusterRole", "reader")), Some(("Role", "reader")), None]);
        assert_eq!(bindings_reaching_service_account(&index, "apps", "other").len(), 1);
    }

    #[test]
    fn cluster_admin_and_builtin_subjects() {
        let admin = role_ref("ClusterRole", "cluster-admin");
        let b = BindingView { name: "b", namespace: None, role_ref: &admin, subjects: &[] };
        assert_eq!(cluster_admin_reason(&b, None).as_deref(), Some("cluster-admin"));
        assert_eq!(binding_dangers(&b, None), [(Danger::ClusterAdmin, vec![])]);

        let custom = role_ref("ClusterRole", "root");
        let b = BindingView { role_ref: &custom, ..b };
        let rules = [rule(&["get"], &[""], &["pods"]), rule(&["*"], &["*"], &["*"])];
        let role = RoleView { name: "root", namespace: None, rules: std::borrow::Cow::Borrowed(&rules) };
        assert_eq!(
            cluster_admin_reason(&b, Some(&role)).as_deref(),
            Some("all-wildcard rule 1, equivalent to cluster-admin")
        );
        assert_eq!(cluster_admin_reason(&b, None), None);

        for (kind, name, builtin) in [
            ("Group", "system:masters", true),
            ("Group", "kubeadm:cluster-admins", true),
            // The defaults bind no control-plane identity or node group to cluster-admin.
            ("User", "system:kube-controller-manager", false),
            ("Group", "system:nodes", false),
            ("Group", "system:bootstrappers", false),
            ("User", "system:anonymous", false),
            ("Group", "system:unauthenticated", false),
            ("Group", "system:authenticated", false),
            ("Group", "system:serviceaccounts:apps", false),
            ("User", "system:serviceaccount:kube-system:tiller", false),
            ("ServiceAccount", "system:weird", false),
            ("Group", "ops", false),
        ] {
            assert_eq!(is_builtin_admin_subject(&subject(kind, name, None)), builtin, "{kind} {name}");
        }
    }

    #[test]
    fn the_account_lookup_follows_changes_to_bindings() {
        let binding = |name: &str, ns: &str| {
            KubeObject::from_value(serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "apps"}],
            }))
            .unwrap()
            .unwrap()
        };
        let mut index = Index::new();
        index.insert(binding("one", "apps"));
        let names = |index: &Index| -> Vec<String> {
            bindings_reaching_service_account(index, "apps", "builder").iter().map(|b| b.name.to_string()).collect()
        };
        assert_eq!(names(&index), ["one"]);
        index.insert(binding("two", "prod"));
        assert_eq!(names(&index), ["one", "two"], "a binding added after a lookup is seen");
        index.remove("RoleBinding", "apps", "one");
        assert_eq!(names(&index), ["two"]);
    }
}
