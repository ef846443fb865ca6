//! `index-memory`: where the operator's index spends its heap, kind by kind, on the synthetic cluster of
//! Deployments with their ReplicaSets and Pods (as the controller-manager makes them). A counting global
//! allocator (this binary only, so the other benches' timings are untouched) measures the live heap bytes
//! each kind adds once its objects are converted, stripped and stored as the operator stores them.
//!
//! `cargo run --release -p vigil-bench --bin index-memory -- [namespaces] [deployments per namespace]
//! [pods per deployment]` (default 200 x 10 x 2) prints a Markdown table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::Value;
use vigil_engine::{Index, KubeObject};

#[path = "../synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Stores `objects` (converted and stripped one at a time, as the watch does); returns the live heap
/// bytes the index grew by.
fn store(index: &mut Index, objects: impl Iterator<Item = Value>) -> (usize, i64) {
    let before = live();
    let mut count = 0;
    for value in objects {
        let mut object = KubeObject::from_value(value).expect("a valid object").expect("a kind Vigil reads");
        object.strip();
        index.insert(object);
        count += 1;
    }
    (count, live() - before)
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let namespaces = args.next().unwrap_or(200);
    let per_namespace = args.next().unwrap_or(10);
    let replicas = args.next().unwrap_or(2);

    let mut index = Index::new();
    let mut rows: Vec<(String, usize, i64)> = Vec::new();
    // Generated as they are stored, so the input's own bytes come and go within the measure.
    let support = (0..namespaces)
        .flat_map(|n| {
            let mut items = Vec::new();
            synthetic::namespace_support(n, &mut items);
            items
        })
        .chain(std::iter::once(()).flat_map(|()| synthetic::cluster_scoped()));
    let (count, bytes) = store(&mut index, support);
    rows.push(("namespaces, NetworkPolicies, RBAC, Services, quotas, nodes".into(), count, bytes));
    let workloads = || (0..namespaces).flat_map(move |n| (0..per_namespace).map(move |i| (i, n)));
    let (count, bytes) = store(&mut index, workloads().map(|(i, n)| synthetic::deployment(&format!("ns-{n}"), i, n)));
    rows.push(("Deployment".into(), count, bytes));
    let (count, bytes) = store(&mut index, workloads().map(|(i, n)| synthetic::replica_set(i, n)));
    rows.push(("ReplicaSet (controlled by a Deployment)".into(), count, bytes));
    let pods = (0..namespaces)
        .flat_map(|n| (0..per_namespace).flat_map(move |i| (0..replicas).map(move |r| (i, n, r))))
        .map(|(i, n, r)| synthetic::replica_pod(i, n, r));
    let (count, bytes) = store(&mut index, pods);
    rows.push(("Pod (controlled by a ReplicaSet)".into(), count, bytes));

    let (total_count, total_bytes) = rows.iter().fold((0, 0), |(c, b), r| (c + r.1, b + r.2));
    println!(
        "## Index heap by kind ({namespaces} namespaces x {per_namespace} Deployments x {replicas} Pods; {total_count} objects)\n"
    );
    println!("| objects | count | heap bytes | bytes per object |\n| --- | --- | --- | --- |");
    for (name, count, bytes) in rows.iter().chain([&("**all**".to_string(), total_count, total_bytes)]) {
        println!("| {name} | {count} | {bytes} | {} |", bytes / (*count).max(1) as i64);
    }
    drop(index);
}
