use super::prelude::*;
use crate::checks::support::pss::PssVersion;

pub static CHECK: Check = Check {
    id: "unsafe-sysctls-procmount",
    risk: 6,
    category: CheckCategory::PodSecurity,
    source: Source::Ours,
    seed_item: "Each team should have PSP (Pod Security Policy) enabled",
    title: "Pods set only safe sysctls and keep /proc masked",
    fails_when: "the pod sets a sysctl outside the Pod Security Standards baseline safe set of the Kubernetes version judged, or a container sets `procMount: Unmasked` (kept by the API server from v1.33; allowed from v1.35 in a pod with `hostUsers: false`)",
    remediation: "Remove unsafe sysctls (tune them on the node instead) and remove `procMount: Unmasked`.",
    rule: "Pod Security Standards baseline controls Sysctls (only the safe set of the version judged: it grew in v1.27, v1.29 and v1.32) and /proc Mount Type (`Default` only; from v1.35 any value in a `hostUsers: false` pod); before v1.33 the API server drops `procMount` (ProcMountType gate off, `pkg/api/pod/util.go` dropDisabledFields). Source: `staging/src/k8s.io/pod-security-admission/policy/check_sysctls.go`, `check_procMount.go` (versions: `engine/src/checks/support/pss.rs`).",
    enabled_by_default: true,
    scope: CheckScope::Manifests,
    reads: &[],
    evaluators: &[Evaluator::Workload(evaluate)],
};

fn evaluate(ctx: &Ctx, w: &Workload) -> Outcome {
    let pss = PssVersion::of(ctx.index);
    let mut violations = Vec::new();
    let sysctls = w.pod_security_context().and_then(|p| p.sysctls.as_deref()).unwrap_or(&[]);
    let unsafe_names: Vec<&str> =
        sysctls.iter().map(|s| s.name.as_str()).filter(|name| !pss.allows_sysctl(&dotted(name))).collect();
    if !unsafe_names.is_empty() {
        violations.push(Violation::object(format!(
            "pod securityContext.sysctls sets unsafe {} (not in the baseline safe set of {})",
            unsafe_names.join(", "),
            pss.describe()
        )));
    }
    // Baseline `procMount` exempts user-namespaced pods from v1.35 (check_procMount_baseline.go).
    // Before v1.33 the API server drops `procMount` (ProcMountType off by default), so nothing unmasks /proc.
    if pss.keeps_proc_mount() && !pss.exempts_user_namespace_pod(&w.spec) {
        let note = pss.user_namespace_note(&w.spec).map(|n| format!("; {n}")).unwrap_or_default();
        for c in w.containers() {
            if c.security_context.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked") {
                violations.push(Violation::container(
                    c.name,
                    format!("{} sets securityContext.procMount: Unmasked{note}", c.describe()),
                ));
            }
        }
    }
    Outcome::from_violations(violations)
}

/// A sysctl name in its dotted form. Kubernetes accepts `/` as the separator too, in which case a `.` is part
/// of a name segment (`net/ipv4/conf/eth0.100/rp_filter` is `net.ipv4.conf.eth0/100.rp_filter`).
fn dotted(name: &str) -> String {
    if !name.contains('/') {
        return name.to_string();
    }
    name.chars()
        .map(|ch| match ch {
            '/' => '.',
            '.' => '/',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::dotted;

    #[test]
    fn slash_separated_names_are_dotted() {
        assert_eq!(dotted("kernel.shm_rmid_forced"), "kernel.shm_rmid_forced");
        assert_eq!(dotted("kernel/shm_rmid_forced"), "kernel.shm_rmid_forced");
        assert_eq!(dotted("net/ipv4/conf/eth0.100/rp_filter"), "net.ipv4.conf.eth0/100.rp_filter");
    }
}
