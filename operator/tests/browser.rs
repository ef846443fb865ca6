//! The page of `vigil scan -o html` in a real browser: headless Chromium opens it from a file, runs its
//! script, and prints the DOM afterwards (`--dump-dom`) and the page's console on stderr. The page logs
//! nothing, so any console line (an uncaught exception, a refused load, a policy violation) fails.
//!
//! Without a Chromium binary (`chromium`, `chromium-browser`, `google-chrome` on PATH, or `VIGIL_CHROMIUM`)
//! each test skips with one line saying so, except under `CI=true`, where a test that cannot run fails;
//! `.ci/run` installs Debian's `chromium` (`make test` leaves these tests out, and says so, when it is missing).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NOW: &str = "2026-11-27T00:00:00Z";
const TIMEOUT: Duration = Duration::from_secs(90);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Chromium binary to drive, or `None` after printing why the test skips (a panic under `CI=true`).
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("VIGIL_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        let why = "no chromium on PATH (.ci/run installs it: apt-get install chromium; or set VIGIL_CHROMIUM)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "browser: cannot run under CI=true: {why}");
        println!("browser: skipped: {why}");
    }
    found
}

/// A folder of its own for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vigil-browser-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `vigil scan examples` plus hostile names, as an HTML file in `dir`.
fn write_page(dir: &Path) -> (PathBuf, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["scan", "examples", "operator/tests/html/hostile.yaml", "-o", "html"])
        .current_dir(root())
        .env("VIGIL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8(out.stdout).unwrap();
    let path = dir.join("report.html");
    std::fs::write(&path, &page).unwrap();
    (path, page)
}

/// What the browser saw: the DOM after the page's script ran, and the page's console messages.
struct Loaded {
    dom: String,
    console: Vec<String>,
}

/// Opens `url` in headless Chromium with a fresh profile and no network services of its own.
fn open(chromium: &Path, dir: &Path, url: &str) -> Loaded {
    let profile = dir.join(format!("profile-{}", url.len()));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).map(|_| text)
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {url} within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = stdout.join().unwrap().unwrap();
    let stderr = stderr.join().unwrap().unwrap();
    assert!(status.success(), "chromium failed ({status}) on {url}:\n{stderr}");
    // Console messages look like `[…:INFO:CONSOLE:12] "message", source: file:///… (12)` (older builds:
    // `CONSOLE(12)`); the rest of stderr is the browser's own chatter.
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    Loaded { dom, console }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// The value of `attribute` on the element whose start tag contains `marker`.
fn attribute<'a>(dom: &'a str, marker: &str, attribute: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let start = dom[..at].rfind('<')?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let value = tag.split(&format!(" {attribute}=\"")).nth(1)?;
    Some(&value[..value.find('"')?])
}

#[test]
fn the_page_renders_in_chromium_without_console_errors() {
    let Some(chromium) = chromium() else { return };
    let dir = TempDir::new("renders");
    let (path, page) = write_page(&dir.0);
    let loaded = open(&chromium, &dir.0, &file_url(&path));
    let dom = &loaded.dom;
    assert!(loaded.console.is_empty(), "console messages:\n{}", loaded.console.join("\n"));

    // The script ran to its end.
    assert!(dom.contains("<html lang=\"en\" data-rendered=\"true\">"), "{dom}");
    // The charts and the score are in the rendered document.
    for chart in ["<svg id=\"chart-severity\"", "<svg id=\"chart-namespace\"", "<svg class=\"gauge\""] {
        assert!(dom.contains(chart), "{chart} missing");
    }
    assert_eq!(dom.matches("<rect class=\"fill-").count(), page.matches("<rect class=\"fill-").count());
    // Every row of the table is shown, the filters are on and the headers sort.
    let rows = page.matches("<tr data-severity=").count();
    assert!(rows > 50, "{rows} rows");
    assert_eq!(dom.matches("<tr data-severity=").count(), rows);
    assert_eq!(attribute(dom, "id=\"findings\"", "data-visible-rows"), Some(rows.to_string().as_str()));
    assert!(dom.contains(&format!("<output id=\"shown\" aria-live=\"polite\">{rows} of {rows} findings</output>")));
    assert!(dom.contains("<form id=\"filters\" class=\"filters\">"), "the filters stay hidden");
    assert!(dom.contains("<th data-sort=\"number\"><button type=\"button\">Severity</button></th>"));

    // The hostile names stayed text: one script element (the page's), no injected image.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<img"));
    assert!(dom.contains("<td class=\"name\">&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
}

#[test]
fn the_fragment_filters_the_table() {
    let Some(chromium) = chromium() else { return };
    let dir = TempDir::new("filters");
    let (path, page) = write_page(&dir.0);
    let loaded = open(&chromium, &dir.0, &format!("{}#severity=critical&result=Fail&namespace=shop", file_url(&path)));
    assert!(loaded.console.is_empty(), "console messages:\n{}", loaded.console.join("\n"));
    let expected = page.matches("<tr data-severity=\"critical\" data-result=\"Fail\" data-namespace=\"shop\">").count();
    assert!(expected > 5, "{expected}");
    let visible = attribute(&loaded.dom, "id=\"findings\"", "data-visible-rows");
    assert_eq!(visible, Some(expected.to_string().as_str()), "rows shown for critical failures in shop");
    // The rows left visible are exactly those.
    let wanted = "data-severity=\"critical\" data-result=\"Fail\" data-namespace=\"shop\"";
    let tags: Vec<&str> =
        loaded.dom.split("<tr data-severity=").skip(1).map(|rest| &rest[..rest.find('>').unwrap()]).collect();
    assert_eq!(tags.len(), page.matches("<tr data-severity=").count());
    let shown: Vec<&&str> = tags.iter().filter(|tag| !tag.contains(" hidden")).collect();
    assert_eq!(shown.len(), expected);
    assert!(shown.iter().all(|tag| format!("data-severity={tag}").starts_with(wanted)), "{shown:?}");
}

/// The harness itself: a page that throws and loads from the network must be caught, so a change in
/// Chromium's logging cannot make the tests above pass silently.
#[test]
fn a_broken_page_is_caught() {
    let Some(chromium) = chromium() else { return };
    let dir = TempDir::new("broken");
    let path = dir.0.join("broken.html");
    std::fs::write(
        &path,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src 'unsafe-inline'\"></head><body><img src=\"https://example.invalid/x.png\">\
         <script>document.documentElement.dataset.rendered = \"true\"; noSuchFunction();</script></body></html>",
    )
    .unwrap();
    let loaded = open(&chromium, &dir.0, &file_url(&path));
    let console = loaded.console.join("\n");
    assert!(console.contains("Uncaught ReferenceError: noSuchFunction is not defined"), "{console}");
    assert!(
        console.contains("https://example.invalid/x.png") && console.contains("Content Security Policy"),
        "{console}"
    );
}
