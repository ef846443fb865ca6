//! The Pod Security Standards controls as Pod Security Admission runs them, per version.
//!
//! Source: `staging/src/k8s.io/pod-security-admission/policy/check_*.go` (kubernetes/kubernetes; v1.32 as
//! the e2e API server runs it, v1.34 for the probe/lifecycle host control, v1.35 for the user-namespace
//! relaxations). Each control there is a `Check{ID, Level, Versions: []VersionedCheck{MinimumVersion, ...}}`;
//! a level `L` at version `1.N` runs every baseline control (and for `restricted`, every restricted one too)
//! in the version with the highest `MinimumVersion <= 1.N` (`policy/registry.go`). Controls run in the
//! order Go registers them (file name order), and [`CONTROLS`] keeps it, so the reasons read as the
//! API server's warnings do. Reasons are the server's own words; details follow its wording.
//!
//! Containers are visited as `visitContainers` does: init containers, containers, ephemeral containers.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, PodSpec, Probe, SecurityContext, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use vigil_crds::PodSecurityLevel;

use crate::checks::support::pss::PssVersion;

/// One control a pod fails: the pod-security-admission check id, its reason and the detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub control: &'static str,
    pub reason: String,
    pub detail: String,
}

/// A control of the standard.
pub struct Control {
    /// The pod-security-admission check id.
    pub id: &'static str,
    /// The level that adds it (restricted includes every baseline control).
    pub level: PodSecurityLevel,
    /// The first minor version of 1.x whose policy runs it.
    pub since: u32,
    /// `Some((reason, detail))` when the pod fails it.
    check: fn(&PssVersion, &ObjectMeta, &PodSpec) -> Option<(String, String)>,
}

/// Every control, in pod-security-admission's registration order.
pub static CONTROLS: &[Control] = &[
    Control {
        id: "allowPrivilegeEscalation",
        level: PodSecurityLevel::Restricted,
        since: 8,
        check: allow_privilege_escalation,
    },
    Control { id: "appArmorProfile", level: PodSecurityLevel::Baseline, since: 0, check: app_armor_profile },
    Control { id: "capabilities_baseline", level: PodSecurityLevel::Baseline, since: 0, check: capabilities_baseline },
    Control {
        id: "capabilities_restricted",
        level: PodSecurityLevel::Restricted,
        since: 22,
        check: capabilities_restricted,
    },
    Control { id: "hostNamespaces", level: PodSecurityLevel::Baseline, since: 0, check: host_namespaces },
    Control { id: "hostPathVolumes", level: PodSecurityLevel::Baseline, since: 0, check: host_path_volumes },
    Control { id: "hostPorts", level: PodSecurityLevel::Baseline, since: 0, check: host_ports },
    Control {
        id: "hostProbesAndHostLifecycle",
        level: PodSecurityLevel::Baseline,
        since: 34,
        check: host_probes_and_lifecycle,
    },
    Control { id: "privileged", level: PodSecurityLevel::Baseline, since: 0, check: privileged },
    Control { id: "procMount", level: PodSecurityLevel::Baseline, since: 0, check: proc_mount_baseline },
    Control {
        id: "procMount_restricted",
        level: PodSecurityLevel::Restricted,
        since: 35,
        check: proc_mount_restricted,
    },
    Control { id: "restrictedVolumes", level: PodSecurityLevel::Restricted, since: 0, check: restricted_volumes },
    Control { id: "runAsNonRoot", level: PodSecurityLevel::Restricted, since: 0, check: run_as_non_root },
    Control { id: "runAsUser", level: PodSecurityLevel::Restricted, since: 23, check: run_as_user },
    Control { id: "seLinuxOptions", level: PodSecurityLevel::Baseline, since: 0, check: selinux_options },
    Control { id: "seccompProfile_baseline", level: PodSecurityLevel::Baseline, since: 19, check: seccomp_baseline },
    Control {
        id: "seccompProfile_restricted",
        level: PodSecurityLevel::Restricted,
        since: 19,
        check: seccomp_restricted,
    },
    Control { id: "sysctls", level: PodSecurityLevel::Baseline, since: 0, check: sysctls },
    Control { id: "windowsHostProcess", level: PodSecurityLevel::Baseline, since: 0, check: windows_host_process },
];

/// The controls a pod fails at `level` under the standard of `pss` (none at `privileged`).
pub fn evaluate(level: PodSecurityLevel, pss: &PssVersion, meta: &ObjectMeta, spec: &PodSpec) -> Vec<Violation> {
    if level == PodSecurityLevel::Privileged {
        return Vec::new();
    }
    // `restricted` runs the baseline controls first, then its own (`checkRegistry.EvaluatePod`).
    let order = [PodSecurityLevel::Baseline, PodSecurityLevel::Restricted];
    order
        .iter()
        .filter(|l| **l <= level)
        .flat_map(|l| CONTROLS.iter().filter(move |c| c.level == *l))
        .filter(|c| c.since <= pss.minor)
        .filter_map(|c| (c.check)(pss, meta, spec).map(|(reason, detail)| Violation { control: c.id, reason, detail }))
        .collect()
}

/// `visitContainers`: init containers, containers, then ephemeral containers (as far as their
/// security-relevant fields go, which is all the controls read of them).
fn visit(spec: &PodSpec) -> impl Iterator<Item = ContainerFields<'_>> {
    let host_network = spec.host_network == Some(true);
    let init = spec.init_containers.iter().flatten().map(move |c| ContainerFields::regular(c, host_network));
    let main = spec.containers.iter().map(move |c| ContainerFields::regular(c, host_network));
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| ContainerFields {
        name: &c.name,
        security_context: c.security_context.as_ref(),
        ports: c.ports.as_deref().unwrap_or(&[]).iter().map(|p| p.host_port.unwrap_or(0)).collect(),
        probes: [c.liveness_probe.as_ref(), c.readiness_probe.as_ref(), c.startup_probe.as_ref()],
        lifecycle: c.lifecycle.as_ref().map_or([None, None], |l| [l.post_start.as_ref(), l.pre_stop.as_ref()]),
    });
    init.chain(main).chain(ephemeral)
}

struct ContainerFields<'a> {
    name: &'a str,
    security_context: Option<&'a SecurityContext>,
    ports: Vec<i32>,
    probes: [Option<&'a Probe>; 3],
    lifecycle: [Option<&'a LifecycleHandler>; 2],
}

impl<'a> ContainerFields<'a> {
    /// In a `hostNetwork` pod the API server defaults an unset or zero `hostPort` to the `containerPort`
    /// (`pkg/apis/core/v1/defaults.go` defaultHostNetworkPorts), so admission sees it: manifests are
    /// judged as the server stores them.
    fn regular(c: &'a Container, host_network: bool) -> Self {
        let host_port = |p: &k8s_openapi::api::core::v1::ContainerPort| match p.host_port.unwrap_or(0) {
            0 if host_network => p.container_port,
            port => port,
        };
        ContainerFields {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]).iter().map(host_port).collect(),
            probes: [c.liveness_probe.as_ref(), c.readiness_probe.as_ref(), c.startup_probe.as_ref()],
            lifecycle: c.lifecycle.as_ref().map_or([None, None], |l| [l.post_start.as_ref(), l.pre_stop.as_ref()]),
        }
    }
}

fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{}\"", s.as_ref())).collect();
    quoted.join(", ")
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, count: usize) -> &'a str {
    if count == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!("{} {}", pluralize("container", "containers", names.len()), join_quote(names))
}

/// Pods with `spec.os.name: windows` are exempt from three restricted controls from v1.25
/// (`check_allowPrivilegeEscalation.go` 1.25, `check_capabilities_restricted.go` 1.25,
/// `check_seccompProfile_restricted.go` 1.25).
fn windows_exempt(pss: &PssVersion, spec: &PodSpec) -> bool {
    pss.minor >= 25 && spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

fn allow_privilege_escalation(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if windows_exempt(pss, spec) {
        return None;
    }
    let bad: Vec<&str> = visit(spec)
        .filter(|c| c.security_context.and_then(|s| s.allow_privilege_escalation) != Some(false))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        (
            "allowPrivilegeEscalation != false".into(),
            format!("{} must set securityContext.allowPrivilegeEscalation=false", containers_phrase(&bad)),
        )
    })
}

fn app_armor_profile(_: &PssVersion, meta: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let allowed_type = |t: &str| matches!(t, "RuntimeDefault" | "Localhost");
    let mut setters: Vec<String> = Vec::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    if let Some(profile) = spec.security_context.as_ref().and_then(|s| s.app_armor_profile.as_ref())
        && !allowed_type(&profile.type_)
    {
        setters.push("pod".into());
        values.insert(profile.type_.clone());
    }
    let mut bad_containers = Vec::new();
    for c in visit(spec) {
        if let Some(profile) = c.security_context.and_then(|s| s.app_armor_profile.as_ref())
            && !allowed_type(&profile.type_)
        {
            bad_containers.push(c.name);
            values.insert(profile.type_.clone());
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    let mut values: Vec<String> = values.into_iter().collect();
    // `allowedAnnotationValue`: empty, `runtime/default` or `localhost/<profile>`.
    let mut annotations: Vec<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    annotations.sort();
    if !annotations.is_empty() {
        setters.push(pluralize("annotation", "annotations", annotations.len()).into());
        values.extend(annotations);
    }
    (!setters.is_empty()).then(|| {
        (
            pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", values.len()).into(),
            format!("{} must not set AppArmor profile type to {}", setters.join(" and "), join_quote(&values)),
        )
    })
}

/// The capabilities a container runtime grants by default (`check_capabilities_baseline.go`).
const DEFAULT_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut bad = Vec::new();
    let mut added: BTreeSet<&str> = BTreeSet::new();
    for c in visit(spec) {
        let adds = c.security_context.and_then(|s| s.capabilities.as_ref()).and_then(|caps| caps.add.as_deref());
        let forbidden: Vec<&str> =
            adds.unwrap_or(&[]).iter().map(String::as_str).filter(|a| !DEFAULT_CAPABILITIES.contains(a)).collect();
        if !forbidden.is_empty() {
            bad.push(c.name);
            added.extend(forbidden);
        }
    }
    (!bad.is_empty()).then(|| {
        let added: Vec<&str> = added.into_iter().collect();
        (
            "non-default capabilities".into(),
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_phrase(&bad),
                join_quote(&added)
            ),
        )
    })
}

fn capabilities_restricted(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if windows_exempt(pss, spec) {
        return None;
    }
    let mut missing_drop_all = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden: BTreeSet<&str> = BTreeSet::new();
    for c in visit(spec) {
        let Some(caps) = c.security_context.and_then(|s| s.capabilities.as_ref()) else {
            missing_drop_all.push(c.name);
            continue;
        };
        if !caps.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop_all.push(c.name);
        }
        let bad: Vec<&str> =
            caps.add.iter().flatten().map(String::as_str).filter(|a| *a != "NET_BIND_SERVICE").collect();
        if !bad.is_empty() {
            adding.push(c.name);
            forbidden.extend(bad);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding.is_empty() {
        let forbidden: Vec<&str> = forbidden.into_iter().collect();
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&forbidden)
        ));
    }
    (!details.is_empty()).then(|| ("unrestricted capabilities".into(), details.join("; ")))
}

fn host_namespaces(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let set: Vec<&str> =
        [(spec.host_network, "hostNetwork=true"), (spec.host_pid, "hostPID=true"), (spec.host_ipc, "hostIPC=true")]
            .into_iter()
            .filter(|(on, _)| *on == Some(true))
            .map(|(_, text)| text)
            .collect();
    (!set.is_empty()).then(|| ("host namespaces".into(), set.join(", ")))
}

fn host_path_volumes(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let bad: Vec<&str> =
        spec.volumes.iter().flatten().filter(|v| v.host_path.is_some()).map(|v| v.name.as_str()).collect();
    (!bad.is_empty()).then(|| {
        ("hostPath volumes".into(), format!("{} {}", pluralize("volume", "volumes", bad.len()), join_quote(&bad)))
    })
}

fn host_ports(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut bad = Vec::new();
    let mut ports: Vec<String> = Vec::new();
    for c in visit(spec) {
        let used: Vec<i32> = c.ports.iter().copied().filter(|p| *p != 0).collect();
        if !used.is_empty() {
            bad.push(c.name);
            ports.extend(used.iter().map(i32::to_string));
        }
    }
    (!bad.is_empty()).then(|| {
        (
            "hostPort".into(),
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.join(", ")
            ),
        )
    })
}

fn host_probes_and_lifecycle(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut bad: BTreeSet<&str> = BTreeSet::new();
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    for c in visit(spec) {
        let probe_hosts = c.probes.iter().flatten().flat_map(|p| {
            [p.http_get.as_ref().map(|h| h.host.as_deref()), p.tcp_socket.as_ref().map(|t| t.host.as_deref())]
        });
        let handler_hosts = c.lifecycle.iter().flatten().flat_map(|h| {
            [h.http_get.as_ref().map(|g| g.host.as_deref()), h.tcp_socket.as_ref().map(|t| t.host.as_deref())]
        });
        for host in probe_hosts.chain(handler_hosts).flatten().flatten().filter(|h| !h.is_empty()) {
            bad.insert(c.name);
            hosts.insert(host);
        }
    }
    (!bad.is_empty()).then(|| {
        let bad: Vec<&str> = bad.into_iter().collect();
        let hosts: Vec<&str> = hosts.into_iter().collect();
        (
            "probe or lifecycle host".into(),
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("probe or lifecycle host", "probe or lifecycle hosts", hosts.len()),
                join_quote(&hosts)
            ),
        )
    })
}

fn privileged(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let bad: Vec<&str> =
        visit(spec).filter(|c| c.security_context.and_then(|s| s.privileged) == Some(true)).map(|c| c.name).collect();
    (!bad.is_empty()).then(|| {
        ("privileged".into(), format!("{} must not set securityContext.privileged=true", containers_phrase(&bad)))
    })
}

/// `procMount` other than `Default`. Before v1.33 the API server drops the field (the ProcMountType gate
/// is off), so no stored pod has it: it is judged only where [`PssVersion::keeps_proc_mount`] says so.
fn proc_mount(pss: &PssVersion, spec: &PodSpec) -> Option<(String, String)> {
    if !pss.keeps_proc_mount() {
        return None;
    }
    let mut bad = Vec::new();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    for c in visit(spec) {
        if let Some(mount) = c.security_context.and_then(|s| s.proc_mount.as_deref())
            && mount != "Default"
        {
            bad.push(c.name);
            types.insert(mount);
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        (
            "procMount".into(),
            format!("{} must not set securityContext.procMount to {}", containers_phrase(&bad), join_quote(&types)),
        )
    })
}

/// Baseline: from v1.35 a pod in a user namespace may set any procMount (`procMount_1_35_baseline`).
fn proc_mount_baseline(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if pss.exempts_user_namespace_pod(spec) {
        return None;
    }
    proc_mount(pss, spec)
}

fn proc_mount_restricted(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    proc_mount(pss, spec)
}

/// The volume source a volume uses, by its JSON field name (`restrictedVolumes` names them so).
fn volume_type(v: &Volume) -> &'static str {
    let sources: [(bool, &'static str); 30] = [
        (v.config_map.is_some(), "configMap"),
        (v.csi.is_some(), "csi"),
        (v.downward_api.is_some(), "downwardAPI"),
        (v.empty_dir.is_some(), "emptyDir"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.projected.is_some(), "projected"),
        (v.secret.is_some(), "secret"),
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
        (v.image.is_some(), "image"),
    ];
    sources.iter().find(|(set, _)| *set).map_or("unknown", |(_, name)| name)
}

/// The volume sources `restricted` allows (`check_restrictedVolumes.go`).
const RESTRICTED_VOLUME_TYPES: &[&str] =
    &["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

fn restricted_volumes(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut bad = Vec::new();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    for v in spec.volumes.iter().flatten() {
        let kind = volume_type(v);
        if !RESTRICTED_VOLUME_TYPES.contains(&kind) {
            bad.push(v.name.as_str());
            types.insert(kind);
        }
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        (
            "restricted volume types".into(),
            format!(
                "{} {} {} {}",
                format_args!("{} {}", pluralize("volume", "volumes", bad.len()), join_quote(&bad)),
                pluralize("uses", "use", bad.len()),
                pluralize("restricted volume type", "restricted volume types", types.len()),
                join_quote(&types)
            ),
        )
    })
}

/// `runAsNonRoot`: the pod or every container must set it true, and none may set it false; from v1.35 a
/// pod in a user namespace is exempt.
fn run_as_non_root(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if pss.exempts_user_namespace_pod(spec) {
        return None;
    }
    let mut setters: Vec<String> = Vec::new();
    let pod_value = spec.security_context.as_ref().and_then(|s| s.run_as_non_root);
    if pod_value == Some(false) {
        setters.push("pod".into());
    }
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in visit(spec) {
        match c.security_context.and_then(|s| s.run_as_non_root) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None if pod_value != Some(true) => implicit.push(c.name),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return Some((
            "runAsNonRoot != true".into(),
            format!("{} must not set securityContext.runAsNonRoot=false", setters.join(" and ")),
        ));
    }
    (!implicit.is_empty()).then(|| {
        (
            "runAsNonRoot != true".into(),
            format!("pod or {} must set securityContext.runAsNonRoot=true", containers_phrase(&implicit)),
        )
    })
}

fn run_as_user(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if pss.exempts_user_namespace_pod(spec) {
        return None;
    }
    let mut setters: Vec<String> = Vec::new();
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
        setters.push("pod".into());
    }
    let bad: Vec<&str> =
        visit(spec).filter(|c| c.security_context.and_then(|s| s.run_as_user) == Some(0)).map(|c| c.name).collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| ("runAsUser=0".into(), format!("{} must not set runAsUser=0", setters.join(" and "))))
}

fn selinux_options(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut setters: Vec<String> = Vec::new();
    let (mut types, mut users, mut roles): (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) = Default::default();
    let mut judge = |options: Option<&k8s_openapi::api::core::v1::SELinuxOptions>| -> bool {
        let Some(o) = options else { return false };
        let mut bad = false;
        let t = o.type_.as_deref().unwrap_or("");
        if !pss.allows_selinux_type(t) {
            types.insert(t.to_string());
            bad = true;
        }
        if let Some(user) = o.user.as_deref().filter(|u| !u.is_empty()) {
            users.insert(user.to_string());
            bad = true;
        }
        if let Some(role) = o.role.as_deref().filter(|r| !r.is_empty()) {
            roles.insert(role.to_string());
            bad = true;
        }
        bad
    };
    if judge(spec.security_context.as_ref().and_then(|s| s.se_linux_options.as_ref())) {
        setters.push("pod".into());
    }
    let bad: Vec<&str> = visit(spec)
        .filter(|c| judge(c.security_context.and_then(|s| s.se_linux_options.as_ref())))
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    let list = |set: &BTreeSet<String>| join_quote(&set.iter().collect::<Vec<_>>());
    if !types.is_empty() {
        what.push(format!("{} {}", pluralize("type", "types", types.len()), list(&types)));
    }
    if !users.is_empty() {
        what.push(format!("{} {}", pluralize("user", "users", users.len()), list(&users)));
    }
    if !roles.is_empty() {
        what.push(format!("{} {}", pluralize("role", "roles", roles.len()), list(&roles)));
    }
    Some((
        "seLinuxOptions".into(),
        format!("{} set forbidden securityContext.seLinuxOptions: {}", setters.join(" and "), what.join("; ")),
    ))
}

fn seccomp_baseline(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut setters: Vec<String> = Vec::new();
    if spec.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()).is_some_and(|p| p.type_ == "Unconfined")
    {
        setters.push("pod".into());
    }
    let bad: Vec<&str> = visit(spec)
        .filter(|c| {
            c.security_context.and_then(|s| s.seccomp_profile.as_ref()).is_some_and(|p| p.type_ == "Unconfined")
        })
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        (
            "seccompProfile".into(),
            format!(r#"{} must not set securityContext.seccompProfile.type to "Unconfined""#, setters.join(" and ")),
        )
    })
}

fn seccomp_restricted(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    if windows_exempt(pss, spec) {
        return None;
    }
    let valid = |t: &str| matches!(t, "RuntimeDefault" | "Localhost");
    let mut setters: Vec<String> = Vec::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    let mut pod_set = false;
    if let Some(p) = spec.security_context.as_ref().and_then(|s| s.seccomp_profile.as_ref()) {
        if valid(&p.type_) {
            pod_set = true;
        } else {
            setters.push("pod".into());
            values.insert(p.type_.clone());
        }
    }
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in visit(spec) {
        match c.security_context.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(p) if !valid(&p.type_) => {
                explicit.push(c.name);
                values.insert(p.type_.clone());
            }
            Some(_) => {}
            None if !pod_set => implicit.push(c.name),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        let values: Vec<String> = values.into_iter().collect();
        return Some((
            "seccompProfile".into(),
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        ));
    }
    (!implicit.is_empty()).then(|| {
        (
            "seccompProfile".into(),
            format!(
                r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                containers_phrase(&implicit)
            ),
        )
    })
}

fn sysctls(pss: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let bad: Vec<&str> = spec
        .security_context
        .iter()
        .flat_map(|s| s.sysctls.iter().flatten())
        .map(|s| s.name.as_str())
        .filter(|name| !pss.allows_sysctl(name))
        .collect();
    (!bad.is_empty()).then(|| ("forbidden sysctls".into(), bad.join(", ")))
}

fn windows_host_process(_: &PssVersion, _: &ObjectMeta, spec: &PodSpec) -> Option<(String, String)> {
    let mut setters: Vec<String> = Vec::new();
    let host_process = |s: Option<&k8s_openapi::api::core::v1::WindowsSecurityContextOptions>| {
        s.and_then(|w| w.host_process) == Some(true)
    };
    if host_process(spec.security_context.as_ref().and_then(|s| s.windows_options.as_ref())) {
        setters.push("pod".into());
    }
    let bad: Vec<&str> = visit(spec)
        .filter(|c| host_process(c.security_context.and_then(|s| s.windows_options.as_ref())))
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        (
            "hostProcess".into(),
            format!("{} must not set securityContext.windowsOptions.hostProcess=true", setters.join(" and ")),
        )
    })
}
