//! The project's own Wine ntoskrnl.exe: Debian's Wine 8 with `wine/ntoskrnl-startio-csq.patch`
//! (StartIo, device queues, IoCsq, and two timer fixes), built, cached and installed into a
//! prefix. The patch and its build script are carried inside this crate, so an installed
//! `cargo wdm` applies them anywhere; the patch's own tests live in the wdm repository
//! (`e2e/wine/tests`, `cargo xtask wine-patch`).
//!
//! Why a patched ntoskrnl.exe: Wine 8 only stubs IoStartPacket and its family, so a StartIo or
//! cancel-safe-queue driver cannot run end to end on the stock one. The DLL must be built from
//! exactly the installed Wine's source (it talks to the installed ntdll and wineserver), so the
//! cache is keyed by the installed `wine64` version and the patch's hash. It goes into one
//! prefix as a native override, never into the system's Wine. See `e2e/wine/README.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The patch (LGPL-2.1-or-later, like Wine; its header says what it implements).
pub const PATCH: &str = include_str!("../wine/ntoskrnl-startio-csq.patch");
/// The Debian packages the build needs on top of a C compiler.
pub const BUILD_PACKAGES: &[&str] = &["dpkg-dev", "patch", "make", "perl", "xz-utils", "gcc-mingw-w64-x86-64"];

/// The script that builds ntoskrnl.exe alone from Debian's source of the installed wine64.
pub const BUILD_SCRIPT: &str = include_str!("../wine/build-ntoskrnl.sh");
/// Wine's marker of a builtin DLL, at file offset 0x40: a copy in system32 carrying it is
/// ignored in favour of the builtin one from Wine's own folder.
const BUILTIN_MARKER: &[u8; 16] = b"Wine builtin DLL";
const MARKER_OFFSET: usize = 0x40;
/// What replaces the marker (16 bytes, like it).
const NATIVE_MARKER: &[u8; 16] = b"wdm patched DLL\0";

/// A patched ntoskrnl.exe, ready to install.
#[derive(Clone, Debug)]
pub struct Patched {
    /// The DLL in the cache, as built (still carrying the builtin marker).
    pub ntoskrnl: PathBuf,
    /// The installed `wine64` package version it was built for.
    pub wine_version: String,
    /// SHA-256 of the patch and the build script, hex.
    pub patch_hash: String,
    /// Whether it came from the cache (no build).
    pub from_cache: bool,
    /// How long getting it took.
    pub seconds: f64,
}

/// The installed `wine64` version (Debian's, e.g. `8.0~repack-4`).
fn wine_version() -> Result<String, String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "wine64"])
        .output()
        .map_err(|e| format!("dpkg-query: {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || version.is_empty() {
        return Err("wine64 is not installed (dpkg-query -W wine64)".into());
    }
    Ok(version)
}

/// SHA-256 of bytes, hex (sha256sum: no hashing crate for one call).
fn sha256(data: &[u8]) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sha256sum: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(data)
        .map_err(|e| format!("sha256sum: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(hash) if out.status.success() && hash.len() == 64 => Ok(hash.to_owned()),
        _ => Err("sha256sum failed".into()),
    }
}

/// A version as a folder name: `8.0~repack-4` becomes `8.0_repack-4`.
fn sanitise(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Removes the work folders (`.build-<key>-<pid>`, several hundred MB each) of builds whose
/// process is gone: an interrupted build leaves its folder, never a cache entry.
fn remove_abandoned_builds(cache: &Path) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(".build-")
            .and_then(|rest| rest.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The cached patched ntoskrnl.exe for the installed Wine, built with [`BUILD_SCRIPT`] when
/// missing (about 35 s from a fresh folder), then cached under
/// `<cache>/<wine version>-<16 hex of the patch's SHA-256>/`.
///
/// The build goes to a temporary folder and is renamed into place when complete, so an
/// interrupted build never leaves a bad cache entry. Errors say why: the source could not be
/// fetched, or the build failed (with the path of its log).
///
/// ```no_run
/// let patched = cargo_wdm::wine_patch::patched_ntoskrnl(std::path::Path::new("target/wine-ntoskrnl"))?;
/// println!("{}", patched.ntoskrnl.display());
/// # Ok::<(), String>(())
/// ```
pub fn patched_ntoskrnl(cache: &Path) -> Result<Patched, String> {
    let started = Instant::now();
    let wine_version = wine_version()?;
    // The script is part of the key too: a changed build step must not serve an old DLL.
    let patch_hash = sha256(format!("{PATCH}\0{BUILD_SCRIPT}").as_bytes())?;
    let key = format!("{}-{}", sanitise(&wine_version), &patch_hash[..16]);
    let dir = cache.join(&key);
    let done = |from_cache| Patched {
        ntoskrnl: dir.join("ntoskrnl.exe"),
        wine_version: wine_version.clone(),
        patch_hash: patch_hash.clone(),
        from_cache,
        seconds: started.elapsed().as_secs_f64(),
    };
    if dir.join("ntoskrnl.exe").is_file() {
        return Ok(done(true));
    }

    println!("building Wine's ntoskrnl.exe for wine64 {wine_version} with the wdm patch (about 35 s)");
    // What the build script runs besides the autotools it fetches itself: dpkg-source, patch,
    // make, perl (Wine's generators), xz (the source archive), the mingw compiler. Installed
    // with apt when root; otherwise the error names them.
    crate::tools::ensure_packages(BUILD_PACKAGES)?;
    remove_abandoned_builds(cache);
    let work = cache.join(format!(".build-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let out = work.join("out");
    let (script, patch) = (work.join("build-ntoskrnl.sh"), work.join("ntoskrnl-startio-csq.patch"));
    std::fs::write(&script, BUILD_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    std::fs::write(&patch, PATCH).map_err(|e| format!("{}: {e}", patch.display()))?;
    let status = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .arg(&patch)
        .env("NTOSKRNL_SCRATCH", work.join("scratch"))
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("bash build-ntoskrnl.sh: {e}"))?;
    let log = out.join("build.log");
    if !status.success() {
        // Keep the log beside the cache, drop the (large) scratch folder.
        let kept = cache.join(format!("{key}.failed.log"));
        let _ = std::fs::copy(&log, &kept);
        let _ = std::fs::remove_dir_all(&work);
        let why = if status.code() == Some(2) {
            format!("the source of wine {wine_version} could not be fetched from Debian's archive")
        } else {
            "building ntoskrnl.exe failed".to_owned()
        };
        return Err(format!("{why} ({status}); log: {}", kept.display()));
    }
    let built = std::fs::read(out.join("ntoskrnl.exe")).map_err(|e| format!("the built ntoskrnl.exe: {e}"))?;
    if built.get(MARKER_OFFSET..MARKER_OFFSET + 16) != Some(&BUILTIN_MARKER[..]) {
        return Err(format!(
            "{}: no Wine builtin marker at 0x40, not a Wine DLL build; log: {}",
            out.join("ntoskrnl.exe").display(),
            log.display()
        ));
    }
    // Only the DLL, the log and the patch it came from go into the cache entry.
    let staged = work.join("entry");
    std::fs::create_dir_all(&staged).map_err(|e| e.to_string())?;
    for (from, name) in [
        (out.join("ntoskrnl.exe"), "ntoskrnl.exe"),
        (log, "build.log"),
        (patch, "ntoskrnl-startio-csq.patch"),
    ] {
        std::fs::copy(&from, staged.join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    // Another build may have finished first: then its entry is as good as ours.
    if let Err(e) = std::fs::rename(&staged, &dir)
        && !dir.join("ntoskrnl.exe").is_file()
    {
        return Err(format!("{}: {e}", dir.display()));
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(done(false))
}

/// Installs the patched ntoskrnl.exe into a prefix made with `wineboot -i` whose session has
/// ended (`wineserver -w`), before the services start: a copy in system32 without Wine's
/// builtin marker, and `ntoskrnl.exe=native` in `HKCU\Software\Wine\DllOverrides`. Waits for
/// the server again, so that the next session (the one that starts winedevice.exe) loads it.
/// `wineboot --update` would put Wine's own back.
pub fn install(prefix: &Path, patched: &Patched, wine: &Path, wineserver: &Path) -> Result<(), String> {
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.join("ntoskrnl.exe").is_file() {
        return Err(format!(
            "{}: no ntoskrnl.exe (run wineboot -i first)",
            system32.display()
        ));
    }
    let mut dll = std::fs::read(&patched.ntoskrnl).map_err(|e| format!("{}: {e}", patched.ntoskrnl.display()))?;
    match dll.get_mut(MARKER_OFFSET..MARKER_OFFSET + 16) {
        Some(marker) if marker == BUILTIN_MARKER => marker.copy_from_slice(NATIVE_MARKER),
        _ => {
            return Err(format!(
                "{}: no Wine builtin marker at 0x40",
                patched.ntoskrnl.display()
            ));
        }
    }
    let staged = system32.join("ntoskrnl.exe.wdm");
    std::fs::write(&staged, &dll).map_err(|e| format!("{}: {e}", staged.display()))?;
    std::fs::rename(&staged, system32.join("ntoskrnl.exe")).map_err(|e| format!("{}: {e}", system32.display()))?;
    let reg = Command::new("timeout")
        .arg("60")
        .arg(wine)
        .args([
            "reg",
            "add",
            r"HKCU\Software\Wine\DllOverrides",
            "/v",
            "ntoskrnl.exe",
            "/d",
            "native",
            "/f",
        ])
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("wine reg: {e}"))?;
    if !reg.status.success() {
        return Err(format!(
            "wine reg add DllOverrides failed ({}): {}",
            reg.status,
            String::from_utf8_lossy(&reg.stderr).trim()
        ));
    }
    let wait = Command::new("timeout")
        .arg("120")
        .arg(wineserver)
        .arg("-w")
        .env("WINEPREFIX", prefix)
        .status()
        .map_err(|e| format!("wineserver -w: {e}"))?;
    if !wait.success() {
        return Err(format!("wineserver -w after installing ntoskrnl.exe failed ({wait})"));
    }
    Ok(())
}
