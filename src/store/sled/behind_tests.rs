//! The writes behind: reads see every applied change before and after sled has it;
//! sled gets one batch with the watermark; closing writes what waits.

use super::*;

fn tree() -> (tempfile::TempDir, ::sled::Db, ::sled::Tree) {
    let dir = tempfile::tempdir().unwrap();
    let db = ::sled::Config::new().path(dir.path()).open().unwrap();
    let t = db.open_tree("proj").unwrap();
    (dir, db, t)
}

fn change(k: &str, v: Option<&str>) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))
}

fn sled_entries(t: &::sled::Tree, start: &[u8]) -> Vec<Result<Entry, StoreError>> {
    t.range(start..)
        .map(|r| {
            let (k, v) = r.unwrap();
            Ok((k.to_vec(), v.to_vec()))
        })
        .collect()
}

fn scan(b: &Behind, t: &::sled::Tree, prefix: &str, from: &str, limit: usize) -> Vec<String> {
    let start = if from < prefix { prefix } else { from };
    b.scan(
        prefix.as_bytes(),
        start.as_bytes(),
        limit,
        sled_entries(t, start.as_bytes()).into_iter(),
    )
    .unwrap()
    .into_iter()
    .map(|(k, v)| {
        format!(
            "{}={}",
            String::from_utf8(k).unwrap(),
            String::from_utf8(v).unwrap()
        )
    })
    .collect()
}

fn sled_watermark(t: &::sled::Tree) -> Option<u64> {
    t.get(WATERMARK)
        .unwrap()
        .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
}

#[test]
fn reads_see_waiting_changes_over_sled_and_a_flush_writes_them_with_the_watermark() {
    let (_d, _db, t) = tree();
    for (k, v) in [("pa", "1"), ("pb", "2"), ("pc", "3"), ("q", "9")] {
        t.insert(k, v).unwrap();
    }
    t.insert(WATERMARK, &3u64.to_be_bytes()[..]).unwrap();
    let b = Behind::start(t.clone());
    b.apply(
        &[
            change("pb", None),
            change("pc", Some("30")),
            change("pd", Some("4")),
        ],
        7,
    )
    .unwrap();
    assert_eq!(b.watermark(), Some(7));
    assert_eq!(
        b.get(b"pb"),
        Some(None),
        "a waiting delete hides sled's value"
    );
    assert_eq!(b.get(b"pc"), Some(Some(b"30".to_vec())));
    assert_eq!(b.get(b"pa"), None, "not waiting: sled has the latest");
    assert_eq!(scan(&b, &t, "p", "p", 10), ["pa=1", "pc=30", "pd=4"]);
    assert_eq!(scan(&b, &t, "p", "p", 2), ["pa=1", "pc=30"]);
    assert_eq!(scan(&b, &t, "p", "pb", 10), ["pc=30", "pd=4"]);
    assert_eq!(scan(&b, &t, "p", "pd\0", 10), Vec::<String>::new());
    assert_eq!(scan(&b, &t, "q", "q", 10), ["q=9"]);
    let whole = |b: &Behind| {
        let mut all = b
            .scan(b"", b"", 100, sled_entries(&t, b"").into_iter())
            .unwrap();
        all.retain(|(k, _)| k == WATERMARK);
        all
    };
    let seven = vec![(WATERMARK.to_vec(), 7u64.to_be_bytes().to_vec())];
    assert_eq!(
        whole(&b),
        seven,
        "the watermark key reads as the last apply's"
    );
    assert_eq!(b.get(WATERMARK), Some(Some(7u64.to_be_bytes().to_vec())));
    assert_eq!(scan(&b, &t, "pd", "pd", 10), ["pd=4"]);
    b.flush().unwrap();
    assert_eq!(b.watermark(), None, "sled is up to date");
    assert_eq!(sled_watermark(&t), Some(7));
    assert_eq!(t.get("pb").unwrap(), None);
    assert_eq!(t.get("pc").unwrap().unwrap().as_ref(), b"30");
    assert_eq!(scan(&b, &t, "p", "p", 10), ["pa=1", "pc=30", "pd=4"]);
    assert_eq!(whole(&b), seven, "the same once sled has it");
}

#[test]
fn the_thread_writes_what_waited_and_closing_writes_the_rest() {
    let (_d, _db, t) = tree();
    let b = Behind::start(t.clone());
    b.apply(&[change("a", Some("1"))], 1).unwrap();
    // The thread writes within AGE; poll (never a timing assertion) for up to 10 s.
    let until = Instant::now() + Duration::from_secs(10);
    while sled_watermark(&t) != Some(1) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sled_watermark(&t), Some(1), "the thread wrote the change");
    assert_eq!(t.get("a").unwrap().unwrap().as_ref(), b"1");
    b.apply(&[change("a", Some("2")), change("b", Some("3"))], 2)
        .unwrap();
    drop(b);
    assert_eq!(sled_watermark(&t), Some(2), "closing wrote what waited");
    assert_eq!(t.get("a").unwrap().unwrap().as_ref(), b"2");
    assert_eq!(t.get("b").unwrap().unwrap().as_ref(), b"3");
}

#[test]
fn over_the_hard_cap_the_applier_writes_itself_and_a_clear_forgets_everything() {
    let (_d, _db, t) = tree();
    let b = Behind::start(t.clone());
    let many: Vec<_> = (0..HARD_KEYS + 1)
        .map(|i| (format!("k{i:06}").into_bytes(), Some(vec![1u8])))
        .collect();
    b.apply(&many, 5).unwrap();
    assert_eq!(sled_watermark(&t), Some(5), "written before apply returned");
    assert_eq!(t.len(), HARD_KEYS + 2);
    b.apply(&[change("z", Some("1"))], 6).unwrap();
    b.clear().unwrap();
    assert_eq!(b.watermark(), None);
    assert_eq!(b.get(b"z"), None);
    assert!(t.is_empty());
    b.flush().unwrap();
    assert!(t.is_empty(), "nothing waited after the clear");
}

#[test]
fn merge_keeps_order_limit_and_prefix() {
    let ok = |k: &str, v: &str| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
    let sled = || vec![ok("a1", "s"), ok("a3", "s"), ok("a5", "s"), ok("b1", "s")].into_iter();
    let mine = vec![
        change("a2", Some("m")),
        change("a3", None),
        change("a5", Some("m")),
        change("a6", Some("m")),
    ];
    let got = merge(mine.clone(), sled(), b"a", 10).unwrap();
    let keys: Vec<_> = got
        .iter()
        .map(|(k, v)| {
            format!(
                "{}{}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    assert_eq!(keys, ["a1s", "a2m", "a5m", "a6m"]);
    assert_eq!(merge(mine.clone(), sled(), b"a", 2).unwrap().len(), 2);
    let broken = vec![
        ok("a1", "s"),
        Err(StoreError::Corrupt {
            what: "proj",
            detail: "x".into(),
        }),
    ];
    assert!(
        merge(mine, broken.into_iter(), b"a", 10).is_err(),
        "sled's error is returned"
    );
}
