//! A real Chromium driven over WebDriver: Debian's `/usr/bin/chromedriver` started on a
//! port it binds itself (`--port=0`, the port read back from its own line), headless
//! Chromium with a fresh profile and every background network feature off, downloads
//! into a directory of the test, bounded explicit waits, and both processes ended on
//! drop.

#![allow(dead_code)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The longest any wait lasts.
pub const WAIT: Duration = Duration::from_secs(20);

/// Whether the browser tests can run here (both binaries installed).
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A running chromedriver with one browser session.
pub struct Browser {
    driver: Option<Child>,
    pub client: Client,
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
    _dl: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let out = driver.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = match rx.recv_timeout(WAIT) {
            Ok(p) => p,
            Err(_) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver did not start");
            }
        };
        let profile = tempfile::tempdir().unwrap();
        let dl = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-default-apps",
                    "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check",
                    "--disable-features=OptimizationHints,MediaRouter,Translate",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
                "prefs": {
                    "download.default_directory": dl.path().display().to_string(),
                    "download.prompt_for_download": false,
                    "safebrowsing.enabled": false,
                },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = match ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("cannot start a browser session: {e}");
            }
        };
        Browser {
            driver: Some(driver),
            client,
            downloads: dl.path().to_path_buf(),
            _profile: profile,
            _dl: dl,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits (bounded) for an element.
    pub async fn el(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let html = self.client.source().await.unwrap_or_default();
                panic!("no element {css} at {url:?}: {e}\n{html}");
            }
        }
    }

    /// Whether an element is there now (no wait).
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Waits (bounded) until `css` is gone.
    pub async fn gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self.has(css).await {
            assert!(Instant::now() < deadline, "{css} is still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) until the page text contains `needle`.
    pub async fn text_contains(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if t.contains(needle) {
                        return t;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.el(css).await;
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.el(css).await.click().await.unwrap();
    }

    /// Waits (bounded) for the URL path to start with `prefix`.
    pub async fn at(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.client.current_url().await.unwrap();
            if url.path().starts_with(prefix) {
                return url.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "never reached {prefix} (at {url})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's HTML.
    pub async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Writes a PNG screenshot to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Waits (bounded) for a finished download whose name ends with `suffix`. Chromium
    /// reserves the final name with an empty file while it writes `*.crdownload`, so a
    /// download is finished when its file is not empty and no `.crdownload` is left.
    pub async fn download(&self, suffix: &str) -> PathBuf {
        let deadline = Instant::now() + WAIT;
        loop {
            let names: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().to_string();
            let writing = names.iter().any(|p| name(p).ends_with(".crdownload"));
            let done = names.iter().find(|p| {
                name(p).ends_with(suffix) && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
            });
            if let (false, Some(p)) = (writing, done) {
                return p.clone();
            }
            assert!(Instant::now() < deadline, "no download *{suffix}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut d) = self.driver.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        // A browser whose driver died keeps running: end the ones of our own profile.
        let mark = format!("--user-data-dir={}", self._profile.path().display());
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmd).split('\0').any(|a| a == mark) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
    }
}
