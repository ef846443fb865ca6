//! Containers of a pod spec seen one way (regular, init, ephemeral), and Kubernetes' own defaulting and
//! precedence rules for them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EphemeralContainer, PodSecurityContext, PodSpec, ResourceRequirements,
    SecurityContext, VolumeMount,
};

use crate::input::index::Index;
use crate::subject::Workload;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Container,
    Init,
    Ephemeral,
}

/// One container of a pod spec, whatever list it is in.
#[derive(Clone, Debug)]
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub kind: ContainerKind,
    pub image: Option<&'a str>,
    pub image_pull_policy: Option<&'a str>,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub env: &'a [EnvVar],
    pub resources: Option<&'a ResourceRequirements>,
    pub volume_mounts: &'a [VolumeMount],
    /// The pod spec's `hostNetwork`, which defaults the container's host ports.
    pub host_network: bool,
    /// Set when the container is not in the template but was found in a live pod (a sidecar injected by
    /// an admission webhook): the pod's name.
    pub injected_in: Option<&'a str>,
}

impl<'a> ContainerView<'a> {
    fn regular(c: &'a Container, kind: ContainerKind, host_network: bool) -> Self {
        ContainerView {
            name: &c.name,
            kind,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
            host_network,
            injected_in: None,
        }
    }

    fn ephemeral(c: &'a EphemeralContainer, host_network: bool) -> Self {
        ContainerView {
            name: &c.name,
            kind: ContainerKind::Ephemeral,
            image: c.image.as_deref(),
            image_pull_policy: c.image_pull_policy.as_deref(),
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or(&[]),
            env: c.env.as_deref().unwrap_or(&[]),
            resources: c.resources.as_ref(),
            volume_mounts: c.volume_mounts.as_deref().unwrap_or(&[]),
            host_network,
            injected_in: None,
        }
    }

    /// `container "app"`, `init container "setup"`, ... with a note for injected sidecars.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ContainerKind::Container => "container",
            ContainerKind::Init => "init container",
            ContainerKind::Ephemeral => "ephemeral container",
        };
        match self.injected_in {
            Some(pod) => format!("{kind} \"{}\" (injected, seen in pod {pod})", self.name),
            None => format!("{kind} \"{}\"", self.name),
        }
    }

    /// The container's image, or `""` when unset.
    pub fn image(&self) -> &'a str {
        self.image.unwrap_or("")
    }

    /// The host ports the container binds, as (hostPort, containerPort), as the API server stores its pods:
    /// in a `hostNetwork` pod an unset or zero `hostPort` defaults to the `containerPort`.
    // k8s pkg/apis/core/v1/defaults.go SetDefaults_Pod -> defaultHostNetworkPorts (containers and init
    // containers; ephemeral containers may not declare ports).
    pub fn host_ports(&self) -> impl Iterator<Item = (i32, i32)> + 'a {
        let defaulted = self.host_network && self.kind != ContainerKind::Ephemeral;
        self.ports.iter().filter_map(move |p| {
            let host_port = p.host_port.filter(|&h| h != 0).or(defaulted.then_some(p.container_port));
            host_port.filter(|&h| h != 0).map(|h| (h, p.container_port))
        })
    }
}

/// Every container of a pod spec: init containers, then containers, then ephemeral containers.
pub fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let host_network = spec.host_network == Some(true);
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(move |c| ContainerView::regular(c, ContainerKind::Init, host_network));
    let main = spec.containers.iter().map(move |c| ContainerView::regular(c, ContainerKind::Container, host_network));
    let eph = spec.ephemeral_containers.iter().flatten().map(move |c| ContainerView::ephemeral(c, host_network));
    init.chain(main).chain(eph)
}

impl Workload<'_> {
    /// The template's containers, then containers that only live pods have (injected sidecars), once each.
    pub fn containers(&self) -> Vec<ContainerView<'_>> {
        let mut out: Vec<ContainerView<'_>> = containers(&self.spec).collect();
        for pod in &self.pods {
            let (Some(spec), Some(pod_name)) = (pod.spec.as_ref(), pod.metadata.name.as_deref()) else { continue };
            for mut c in containers(spec) {
                if !out.iter().any(|o| o.name == c.name && o.kind == c.kind) {
                    c.injected_in = Some(pod_name);
                    out.push(c);
                }
            }
        }
        out
    }

    pub fn pod_security_context(&self) -> Option<&PodSecurityContext> {
        self.spec.security_context.as_ref()
    }
}

/// An image reference, `[registry/]repository[:tag][@algorithm:hex]`, split the way the API server and the
/// container runtime read it (github.com/distribution/reference grammar). Every image check reads images
/// through this one parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The registry host; Docker Hub (`docker.io`) when the reference names none.
    pub registry: &'a str,
    /// The path after the registry (the whole name for Docker Hub references without a registry).
    pub repository: &'a str,
    /// The tag as written, also when a digest follows it (`nginx:latest@sha256:...`).
    pub tag: Option<&'a str>,
    /// False when the reference grammar rejects the reference (a malformed digest or tag, an upper-case
    /// repository): the API server's ParseImageName then fails and gives no tag.
    pub well_formed: bool,
    /// `algorithm:hex`, e.g. `sha256:...` or `sha512:...`.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let (name, digest, digest_ok) = match image.split_once('@') {
            Some((name, digest)) => (name, is_digest(digest).then_some(digest), is_digest(digest)),
            None => (image, None, true),
        };
        // A colon after the last slash starts the tag; one before it is a registry port.
        let last_segment_start = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_segment_start..].rfind(':') {
            Some(i) => (&name[..last_segment_start + i], Some(&name[last_segment_start + i + 1..])),
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, rest),
            _ => ("docker.io", name),
        };
        // Tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; repository components are lower case.
        let tag_ok = tag.is_none_or(|t| {
            t.len() <= 128
                && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        });
        let repository_ok = !repository.is_empty() && !repository.chars().any(|c| c.is_ascii_uppercase());
        let well_formed = digest_ok && tag_ok && repository_ok;
        ImageRef { registry, repository, tag, well_formed, digest }
    }
}

/// True for a digest as the reference grammar has it: an algorithm (`sha256`, `sha512`, ...), a colon and at
/// least 32 hex digits.
fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else { return false };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|part| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The pull policy the API server stores when none is set: `Always` when the tag is `latest`, otherwise
/// `IfNotPresent`. An image with neither tag nor digest counts as `:latest`; a digest-only image has no tag
/// and so gets `IfNotPresent`, while `nginx:latest@sha256:...` still gets `Always`. A reference the grammar
/// rejects (`nginx@sha256:abc`) fails ParseImageName, whose error the defaulting ignores: no tag, so
/// `IfNotPresent`.
// k8s pkg/apis/core/v1/defaults.go SetDefaults_Container with pkg/util/parsers ParseImageName.
pub fn effective_pull_policy(c: &ContainerView) -> String {
    if let Some(p) = c.image_pull_policy.filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    let image = ImageRef::parse(c.image());
    if !image.well_formed {
        return "IfNotPresent".into();
    }
    let tag = image.tag.or(if image.digest.is_none() { Some("latest") } else { None });
    if tag == Some("latest") { "Always".into() } else { "IfNotPresent".into() }
}

/// A container-level setting with the pod-level one as fallback (container settings win).
pub fn container_or_pod<T: Clone>(
    c: &ContainerView,
    pod: Option<&PodSecurityContext>,
    from_container: impl Fn(&SecurityContext) -> Option<T>,
    from_pod: impl Fn(&PodSecurityContext) -> Option<T>,
) -> Option<T> {
    c.security_context.and_then(&from_container).or_else(|| pod.and_then(&from_pod))
}

impl<'a> ContainerView<'a> {
    /// `securityContext.capabilities.add`, empty when unset.
    pub fn added_capabilities(&self) -> &'a [String] {
        self.security_context.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.add.as_deref()).unwrap_or(&[])
    }

    /// `securityContext.capabilities.drop`, empty when unset.
    pub fn dropped_capabilities(&self) -> &'a [String] {
        self.security_context.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.drop.as_deref()).unwrap_or(&[])
    }
}

/// A capability name in one spelling, for comparing: upper case, without the `CAP_` prefix the kernel uses.
pub fn capability_name(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    match upper.strip_prefix("CAP_") {
        Some(name) => name.to_string(),
        None => upper,
    }
}

/// The value Vigil gives a pod label whose value the API server or a controller generates (a uid, a hash, a
/// generated name): not a valid label value, so no selector value can equal it. A selector then matches the
/// label with `Exists` and `NotIn` but never with `In` or `matchLabels`, as for every pod of the workload.
pub const GENERATED_LABEL_VALUE: &str = "(generated)";

impl Workload<'_> {
    /// The labels its pods carry: the template's, plus those the API server and the controllers add, which
    /// selectors of NetworkPolicies and mesh policies see. A value only the cluster knows is
    /// [`GENERATED_LABEL_VALUE`].
    ///
    /// - Job without `manualSelector: true`: `batch.kubernetes.io/job-name` and legacy `job-name` set to its
    ///   name, `batch.kubernetes.io/controller-uid` and legacy `controller-uid` set to its uid, unless the
    ///   template sets them already (`pkg/registry/batch/job/strategy.go` generateSelector).
    /// - CronJob: its Jobs get the same labels, but both values are generated per run: the Job's name is
    ///   `<cronjob>-<scheduled time in minutes>` and its uid new (`pkg/controller/cronjob/utils.go`
    ///   getJobFromTemplate2, `cronjob_controllerv2.go` getJobName), so a selector can rely on the keys only.
    /// - Deployment: `pod-template-hash` (`pkg/controller/deployment/sync.go` getNewReplicaSet).
    /// - StatefulSet: `controller-revision-hash`, `statefulset.kubernetes.io/pod-name` and
    ///   `apps.kubernetes.io/pod-index` (`pkg/controller/statefulset/stateful_set_utils.go`; PodIndexLabel is
    ///   on by default since v1.28).
    /// - DaemonSet: `controller-revision-hash` and `pod-template-generation`
    ///   (`pkg/controller/daemon/util/daemonset_util.go` CreatePodTemplate).
    pub fn stored_pod_labels(&self, index: &Index) -> Cow<'_, BTreeMap<String, String>> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let template = self.template_meta.labels.as_ref().unwrap_or(&EMPTY);
        let generated = Some(GENERATED_LABEL_VALUE);
        fn known(value: Option<&str>) -> Option<&str> {
            value.filter(|v| !v.is_empty()).or(Some(GENERATED_LABEL_VALUE))
        }
        // (keys, value, whether the template's own value wins)
        let added: Vec<(&[&str], Option<&str>, bool)> = match self.kind {
            "Job" if !self.manual_selector(index) => vec![
                (&["batch.kubernetes.io/job-name", "job-name"], known(self.meta.name.as_deref()), true),
                (&["batch.kubernetes.io/controller-uid", "controller-uid"], known(self.meta.uid.as_deref()), true),
            ],
            "CronJob" if !self.manual_selector(index) => vec![
                (&["batch.kubernetes.io/job-name", "job-name"], generated, true),
                (&["batch.kubernetes.io/controller-uid", "controller-uid"], generated, true),
            ],
            "Deployment" => vec![(&["pod-template-hash"], generated, false)],
            "StatefulSet" => vec![(
                &["controller-revision-hash", "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index"],
                generated,
                false,
            )],
            "DaemonSet" => vec![(&["controller-revision-hash", "pod-template-generation"], generated, false)],
            _ => vec![],
        };
        if added.is_empty() {
            return Cow::Borrowed(template);
        }
        let mut labels = template.clone();
        for (keys, value, template_wins) in added {
            let Some(value) = value else { continue };
            for key in keys {
                if template_wins {
                    labels.entry(key.to_string()).or_insert_with(|| value.to_string());
                } else {
                    labels.insert(key.to_string(), value.to_string());
                }
            }
        }
        Cow::Owned(labels)
    }

    /// `manualSelector: true` on a Job, or on a CronJob's job template: the API server then adds no labels.
    /// Read from the packed object's bytes without decoding the rest of it.
    fn manual_selector(&self, index: &Index) -> bool {
        #[derive(serde::Deserialize)]
        struct Object<S> {
            spec: Option<S>,
        }
        #[derive(serde::Deserialize)]
        struct JobSpec {
            #[serde(rename = "manualSelector")]
            manual_selector: Option<bool>,
        }
        #[derive(serde::Deserialize)]
        struct CronJobSpec {
            #[serde(rename = "jobTemplate")]
            job_template: Object<JobSpec>,
        }
        let (namespace, name) = (self.namespace(), self.name());
        match self.kind {
            "Job" => index
                .jobs
                .get(namespace, name)
                .and_then(|j| j.read_as::<Object<JobSpec>>().ok())
                .and_then(|j| j.spec?.manual_selector),
            "CronJob" => index
                .cron_jobs
                .get(namespace, name)
                .and_then(|c| c.read_as::<Object<CronJobSpec>>().ok())
                .and_then(|c| c.spec?.job_template.spec?.manual_selector),
            _ => None,
        }
        .unwrap_or(false)
    }
}

impl Workload<'_> {
    /// True when the pod spec declares `os.name: windows`, where the API server forbids Linux-only
    /// securityContext fields (seccomp, capabilities, readOnlyRootFilesystem, allowPrivilegeEscalation, ...).
    pub fn is_windows(&self) -> bool {
        self.spec.os.as_ref().is_some_and(|os| os.name == "windows")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn pull_policy(image: &str) -> String {
        let container = Container { name: "app".into(), image: Some(image.into()), ..Default::default() };
        effective_pull_policy(&ContainerView::regular(&container, ContainerKind::Container, false))
    }

    #[test]
    fn image_references_split_into_registry_repository_tag_and_digest() {
        let nginx = ImageRef::parse("nginx");
        assert_eq!((nginx.registry, nginx.repository, nginx.tag, nginx.digest), ("docker.io", "nginx", None, None));
        let ghcr_image = format!("ghcr.io/org/app:1.2@sha256:{HEX64}");
        let ghcr = ImageRef::parse(&ghcr_image);
        assert_eq!((ghcr.registry, ghcr.repository, ghcr.tag), ("ghcr.io", "org/app", Some("1.2")));
        assert_eq!(ghcr.digest, Some(&ghcr_image[ghcr_image.len() - 71..]));
        let port = ImageRef::parse("localhost:5000/app:v1");
        assert_eq!((port.registry, port.repository, port.tag), ("localhost:5000", "app", Some("v1")));
        let port_untagged = ImageRef::parse("registry.example.com:5000/team/app");
        assert_eq!((port_untagged.registry, port_untagged.tag), ("registry.example.com:5000", None));
    }

    #[test]
    fn any_digest_algorithm_counts_but_not_a_malformed_one() {
        let sha512 = format!("app@sha512:{HEX64}{HEX64}");
        assert!(ImageRef::parse(&sha512).digest.is_some());
        assert!(ImageRef::parse("app@sha256:abc").digest.is_none(), "a digest has at least 32 hex digits");
        assert!(!ImageRef::parse("app@sha256:abc").well_formed);
        assert!(!ImageRef::parse("App:1.0").well_formed);
        assert!(ImageRef::parse("registry.example.com:5000/app").well_formed);
        assert_eq!(pull_policy("nginx@sha256:abc"), "IfNotPresent", "ParseImageName fails: no tag");
        assert!(ImageRef::parse(&format!("app@sha256:{}", "g".repeat(64))).digest.is_none());
        assert!(ImageRef::parse(&format!("app@{HEX64}")).digest.is_none(), "a digest names its algorithm");
    }

    #[test]
    fn pull_policy_defaults_from_the_tag_even_with_a_digest() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(pull_policy(&format!("nginx:latest@sha256:{HEX64}")), "Always");
        assert_eq!(pull_policy(&format!("nginx:1.27@sha256:{HEX64}")), "IfNotPresent");
        // ParseImageName only assumes `latest` when there is neither tag nor digest.
        assert_eq!(pull_policy(&format!("nginx@sha256:{HEX64}")), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
    }
}
