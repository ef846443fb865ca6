use super::prelude::*;

pub static CHECK: Check = Check {
    id: "host-path-mount",
    risk: 6,
    category: CheckCategory::PodSecurity,
    source: Source::Seed,
    seed_item: "Host mounts, by sharing host mounts, you're removing the filesystem isolation provided by containers",
    title: "Pods do not mount host paths",
    fails_when: "the pod uses a `hostPath` volume, unless its path is under one the policy allows and every mount of it is read-only",
    remediation: "Replace the `hostPath` volume with an emptyDir, ConfigMap or PersistentVolumeClaim; if it must stay, allow its path in the policy and mount it `readOnly: true`.",
    rule: "Pod Security Standards baseline control HostPath Volumes: no `hostPath` volumes (Vigil lets the policy allow read-only paths). Source: `staging/src/k8s.io/pod-security-admission/policy/check_hostPathVolumes.go`.",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let allowed = &ctx.policy.parameters.allowed_host_paths;
    let containers = w.containers();
    let mut violations = Vec::new();
    for volume in w.spec.volumes.iter().flatten() {
        let Some(host_path) = volume.host_path.as_ref() else { continue };
        let path = host_path.path.as_str();
        if !allowed.iter().any(|prefix| is_under(path, prefix)) {
            violations.push(Violation::object(format!("hostPath volume \"{}\" mounts host path {path}", volume.name)));
            continue;
        }
        for c in &containers {
            let writable = c.volume_mounts.iter().any(|m| m.name == volume.name && m.read_only != Some(true));
            if writable {
                let message = format!(
                    "{} mounts hostPath volume \"{}\" ({path}) without readOnly: true",
                    c.describe(),
                    volume.name
                );
                violations.push(Violation::container(c.name, message));
            }
        }
    }
    Outcome::from_violations(violations)
}

/// True when `path` is `prefix` or lies below it. A path that steps back with `..` is never under anything,
/// since it could leave the prefix, and an empty prefix allows nothing.
fn is_under(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || path.split('/').any(|segment| segment == "..") {
        return false;
    }
    let path = path.trim_end_matches('/');
    let prefix = prefix.trim_end_matches('/');
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::is_under;

    #[test]
    fn paths_under_a_prefix() {
        assert!(is_under("/var/log", "/var/log"));
        assert!(is_under("/var/log/", "/var/log"));
        assert!(is_under("/var/log/pods", "/var/log/"));
        assert!(is_under("/etc", "/"));
        assert!(!is_under("/var/logs", "/var/log"));
        assert!(!is_under("/var", "/var/log"));
        assert!(!is_under("/var/log/../../etc", "/var/log"));
        assert!(!is_under("/etc", ""));
    }
}
