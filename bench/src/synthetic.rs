//! A synthetic but realistic cluster dump (`kubectl get ... -A -o yaml` shape): every namespace has
//! workloads with varied security settings, NetworkPolicies, ServiceAccounts, RBAC, LimitRanges and
//! quotas; the cluster has ClusterRoles, bindings and nodes.

use serde_json::{Value, json};

const ENVS: [&str; 3] = ["prod", "staging", "dev"];

/// The pod template of workload `app-{i}` in namespace number `n`.
fn pod_template(ns: &str, i: usize, n: usize) -> Value {
    let name = format!("app-{i}");
    let hardened = !(i + n).is_multiple_of(3);
    let security = if hardened {
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
               "runAsUser": 10001, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}})
    } else {
        json!({"capabilities": {"add": ["NET_ADMIN"]}, "privileged": i.is_multiple_of(7)})
    };
    let image = if hardened {
        format!("registry.example.com/{ns}/{name}:1.{i}.0@sha256:{:064x}", i * 7919 + n)
    } else {
        format!("docker.io/library/nginx:{}", if i.is_multiple_of(2) { "latest" } else { "1.27" })
    };
    json!({
        "metadata": {"labels": {"app": name, "tier": "backend", "version": "v1"},
                     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
        "spec": {
            "serviceAccountName": if i.is_multiple_of(2) { "app" } else { "default" },
            "automountServiceAccountToken": if hardened { json!(false) } else { Value::Null },
            "securityContext": {"fsGroup": 2000},
            "containers": [{
                "name": "main",
                "image": image,
                "imagePullPolicy": if hardened { "Always" } else { "IfNotPresent" },
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "DB_HOST", "value": format!("db.{ns}.svc.cluster.local")},
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                ],
                "resources": if hardened {
                    json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})
                } else { json!({"requests": {"cpu": "100m"}}) },
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5},
                "securityContext": security,
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "config", "mountPath": "/etc/app"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": format!("{name}-config")}}],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "terminationGracePeriodSeconds": 30,
        }
    })
}

pub fn deployment(ns: &str, i: usize, n: usize) -> Value {
    let name = format!("app-{i}");
    let template = pod_template(ns, i, n);
    let last_applied = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": 2, "template": template}});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("{:08x}-0000-4000-8000-{:012x}", n, i),
            "resourceVersion": format!("{}", 100000 + n * 100 + i), "generation": 3,
            "creationTimestamp": "2026-10-01T12:00:00Z",
            "labels": {"app": name, "team": format!("team-{}", n % 40)},
            "annotations": {
                "deployment.kubernetes.io/revision": "3",
                "owner": if i.is_multiple_of(4) { format!("team-{}@example.com", n % 40) } else { String::new() },
                "kubectl.kubernetes.io/last-applied-configuration": last_applied.to_string(),
            },
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2, "observedGeneration": 3,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "lastTransitionTime": "2026-10-01T12:01:00Z", "lastUpdateTime": "2026-10-01T12:01:00Z",
                                   "message": "Deployment has minimum availability."}]},
    })
}

/// The ReplicaSet the controller-manager makes for Deployment `app-{i}` in namespace number `n`, as the API
/// server returns it (labels and annotations copied, `pod-template-hash`, owner reference, status).
#[allow(dead_code)] // the index-memory binary's
pub fn replica_set(i: usize, n: usize) -> Value {
    let ns = format!("ns-{n}");
    let deployment = deployment(&ns, i, n);
    let hash = format!("{:x}", 0x5d8f9c7b4u64 + (i * 1000 + n) as u64);
    let name = format!("app-{i}-{hash}");
    let mut template = deployment["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut labels = template["metadata"]["labels"].clone();
    labels["pod-template-hash"] = json!(hash);
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("{:08x}-0000-4000-9000-{:012x}", n, i),
            "resourceVersion": "2000", "generation": 1, "creationTimestamp": "2026-10-01T12:00:01Z",
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/desired-replicas": "2", "deployment.kubernetes.io/max-replicas": "3",
                            "deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("app-{i}"),
                                 "uid": deployment["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("app-{i}"), "pod-template-hash": hash}},
                 "template": template},
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "observedGeneration": 1},
    })
}

/// Pod number `r` of that ReplicaSet, as the API server stores it once admitted (defaults filled in, the
/// service account token volume mounted, Pending: no scheduler).
#[allow(dead_code)] // the index-memory binary's
pub fn replica_pod(i: usize, n: usize, r: usize) -> Value {
    let rs = replica_set(i, n);
    let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let suffix = format!("{:05x}", (i * 7 + n * 13 + r * 31) % 0xfffff);
    let token_volume = format!("kube-api-access-{suffix}");
    let mut spec = rs["spec"]["template"]["spec"].clone();
    spec["serviceAccount"] = spec["serviceAccountName"].clone();
    spec["schedulerName"] = json!("default-scheduler");
    spec["enableServiceLinks"] = json!(true);
    spec["priority"] = json!(0);
    spec["preemptionPolicy"] = json!("PreemptLowerPriority");
    spec["tolerations"] = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]);
    if let Some(mounts) = spec["containers"][0]["volumeMounts"].as_array_mut() {
        mounts.push(json!({"name": token_volume, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}));
    }
    if let Some(volumes) = spec["volumes"].as_array_mut() {
        volumes.push(json!({"name": token_volume, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}}));
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{rs_name}-{suffix}"), "generateName": format!("{rs_name}-"), "namespace": rs["metadata"]["namespace"],
            "uid": format!("{:08x}-0000-4000-a000-{:08x}{:04x}", n, i, r), "resourceVersion": "3000",
            "creationTimestamp": "2026-10-01T12:00:02Z",
            "labels": rs["spec"]["template"]["metadata"]["labels"],
            "annotations": rs["spec"]["template"]["metadata"]["annotations"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                                 "uid": rs["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable",
                   "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                   "lastTransitionTime": "2026-10-01T12:00:02Z", "message": "0/50 nodes are available"}]},
    })
}

/// A bare Pod `app-{i}` in namespace number `n` (its own subject), as `kubectl apply` creates it: the
/// workload's pod template with the `last-applied-configuration` annotation.
pub fn pod(i: usize, n: usize) -> Value {
    let ns = format!("ns-{n}");
    let template = pod_template(&ns, i, n);
    let mut metadata = template["metadata"].clone();
    metadata["name"] = json!(format!("app-{i}"));
    metadata["namespace"] = json!(ns);
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]});
    let last_applied = pod.to_string();
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!(last_applied);
    pod
}

fn namespace_objects(n: usize, per_namespace: usize, items: &mut Vec<Value>) {
    namespace_support(n, items);
    let ns = format!("ns-{n}");
    for i in 0..per_namespace {
        items.push(deployment(&ns, i, n));
    }
}

/// Namespace number `n` and what it holds besides workloads: NetworkPolicies, ServiceAccounts, a Role
/// and a RoleBinding, a LimitRange and a ResourceQuota (odd namespaces) and a Service.
pub fn namespace_support(n: usize, items: &mut Vec<Value>) {
    let ns = format!("ns-{n}");
    let env = ENVS[n % 3];
    let mut labels = json!({"kubernetes.io/metadata.name": ns, "env": env});
    if n.is_multiple_of(2) {
        labels["pod-security.kubernetes.io/enforce"] = json!("baseline");
    }
    items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}));
    items.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": ns}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}));
    items.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-backend", "namespace": ns},
        "spec": {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}]},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "frontend"}}}], "ports": [{"port": 8080}]}]}}));
    items.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns},
        "automountServiceAccountToken": n.is_multiple_of(2)}));
    items.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}));
    let secret_rule = if n.is_multiple_of(5) {
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}])
    } else {
        json!([])
    };
    let mut rules = vec![json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]})];
    rules.extend(secret_rule.as_array().unwrap().iter().cloned());
    items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "app", "namespace": ns}, "rules": rules}));
    items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "app", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": ns}]}));
    if n % 2 == 1 {
        items.push(json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": ns},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}]}}));
        items.push(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "quota", "namespace": ns},
            "spec": {"hard": {"pods": "50", "limits.cpu": "20", "limits.memory": "40Gi"}}}));
    }
    items.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "app-0", "namespace": ns},
        "spec": {"type": if n.is_multiple_of(10) { "LoadBalancer" } else { "ClusterIP" }, "selector": {"app": "app-0"},
                 "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}));
}

/// The whole cluster as a `kind: List`.
pub fn cluster(namespaces: usize, per_namespace: usize) -> Value {
    let mut items = Vec::with_capacity(namespaces * (per_namespace + 10) + 100);
    for n in 0..namespaces {
        namespace_objects(n, per_namespace, &mut items);
    }
    items.extend(cluster_scoped());
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// 20 ClusterRoles and ClusterRoleBindings and 50 Nodes.
pub fn cluster_scoped() -> Vec<Value> {
    let mut items = Vec::new();
    for c in 0..20 {
        let verbs = if c == 0 { json!(["*"]) } else { json!(["get", "list", "watch"]) };
        items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": format!("operator-{c}")},
            "rules": [{"apiGroups": ["", "apps"], "resources": ["pods", "deployments", "configmaps"], "verbs": verbs}]}));
        items.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("operator-{c}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("operator-{c}")},
            "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": format!("ns-{c}")}]}));
    }
    for node in 0..50 {
        items.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{node}"),
            "labels": {"kubernetes.io/hostname": format!("node-{node}"), "node.kubernetes.io/instance-type": "m6i.xlarge"}},
            "status": {"nodeInfo": {"osImage": if node % 10 == 0 { "Ubuntu 22.04.4 LTS" } else { "Bottlerocket OS 1.20.0 (aws-k8s-1.31)" },
                "kubeletVersion": "v1.31.4", "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.0", "operatingSystem": "linux", "architecture": "amd64"}}}));
    }
    items
}
