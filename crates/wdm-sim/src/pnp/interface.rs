//! Device interfaces (pnp-power.md §1.2, §4; DDI IoRegisterDeviceInterface,
//! IoSetDeviceInterfaceState): the names user mode opens a PnP device by.
//!
//! **Names.** A root-enumerated devnode's instance path is `ROOT\<ID>\<NNNN>`: `<ID>` is its
//! hardware ID without a leading `ROOT\`, upper-cased (Windows keeps device instance IDs in
//! upper case), and `<NNNN>` counts the earlier root devnodes with the same `<ID>` (`0000` for
//! the first), as the root enumerator numbers its instances. An interface's symbolic link is the
//! instance path with `\` turned into `#`, then `#` and the class GUID in lower case:
//! `\??\ROOT#PNPTEST#0000#{6f1b3a7e-...}`; with a reference string, `\<ref>` follows.
//!
//! **IoRegisterDeviceInterface** accepts only a PDO, and a reference string without path
//! separators (STATUS_INVALID_DEVICE_REQUEST otherwise, as the DDI says). The name it returns is
//! a pool block (tag `'UStr'`, charged to the calling driver, so a name never freed with
//! RtlFreeUnicodeString is a leak at unload and in `assert_clean`). Registering the same
//! interface (PDO, class, reference string) again returns the same name with
//! STATUS_OBJECT_NAME_EXISTS, the informational status Windows returns for it. Registrations
//! stay with the devnode (on Windows they live in the registry), across REMOVE.
//!
//! **IoSetDeviceInterfaceState** follows the DDI's statuses: enabling an enabled interface
//! returns STATUS_OBJECT_NAME_EXISTS, disabling one that is not enabled
//! STATUS_OBJECT_NAME_NOT_FOUND, and a name never registered is STATUS_OBJECT_NAME_NOT_FOUND.
//! Enabling makes the name openable ([`crate::Kernel::open`], as `\\?\ROOT#...` or `\??\ROOT#...`);
//! the create goes to the top of the PDO's stack, and the rest of the path after the link (the
//! reference string) is the file object's FileName. The link is the name without the reference
//! string, so instances that differ only by reference string share it: while one of them is
//! enabled, a path through the link opens (an object-manager parse), whichever instance it
//! names.
//!
//! **Checks** (warnings: no documented code):
//! - enabling an interface of a devnode that is neither started nor starting
//!   ([`Rule::PnpInterfaceEnabledNotStarted`]). The DDI has drivers enable in START, after the
//!   lower drivers finish, so a devnode whose START is in progress counts as starting; so do the
//!   rebalance and query-remove states of a started device;
//! - an interface still enabled once REMOVE has completed
//!   ([`Rule::PnpInterfaceEnabledAfterRemove`]): the driver disables it in SURPRISE_REMOVAL or
//!   REMOVE. The manager then disables it itself, as the DDI says the PnP manager does.
//!
//! Decision (⚠ §4): interfaces stay enabled across a rebalance (QUERY_STOP, STOP, START); the
//! simulator neither disables them nor expects the driver to.
//!
//! Not modelled: interface arrival and removal notifications, IoGetDeviceInterfaces,
//! IoOpenDeviceInterfaceRegistryKey, and the namespace: the names are the PnP manager's table,
//! not symbolic links in `\GLOBAL??`, so they collide with nothing.

use wdm_sys::{
    GUID, NTSTATUS, PDEVICE_OBJECT, PUNICODE_STRING, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_EXISTS, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS, UNICODE_STRING,
};

use super::NodeState;
use crate::kernel::{State, current, lock};
use crate::report::Rule;

/// The pool tag of the names IoRegisterDeviceInterface returns.
pub(crate) const NAME_TAG: u32 = u32::from_le_bytes(*b"UStr");

/// One registered interface instance.
pub(crate) struct Interface {
    /// The devnode (index) it belongs to.
    pub node: usize,
    /// The class GUID, `{...}` in lower case.
    pub class: String,
    /// The symbolic link, `\??\ROOT#...#{guid}`, without the reference string.
    pub link: String,
    /// The reference string, if any.
    pub reference: Option<String>,
    pub enabled: bool,
}

impl Interface {
    /// The kernel-mode name IoRegisterDeviceInterface returns.
    pub(crate) fn name(&self) -> String {
        match &self.reference {
            Some(r) => format!("{}\\{r}", self.link),
            None => self.link.clone(),
        }
    }

    /// The user-mode path (`\\?\ROOT#...`).
    pub(crate) fn user_path(&self) -> String {
        format!("\\\\?\\{}", &self.name()[4..])
    }
}

/// A GUID as the registry writes it: `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, lower case.
pub(crate) fn guid_text(g: &GUID) -> String {
    let d = g.Data4;
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
        g.Data1, g.Data2, g.Data3, d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]
    )
}

/// The `<ID>` part of a root devnode's instance path `ROOT\<ID>\<NNNN>`: the hardware ID
/// without a leading `ROOT\`, upper-cased.
pub(crate) fn root_id(hardware_id: &str) -> String {
    let upper = hardware_id.to_uppercase();
    upper.strip_prefix("ROOT\\").unwrap_or(&upper).to_owned()
}

/// The canonical form of a name or path for comparing interface names: `\\?\` is Win32's
/// spelling of `\??\`, as `\\.\` is.
pub(crate) fn canonical(path: &str) -> String {
    match path.strip_prefix("\\\\?\\") {
        Some(rest) => crate::object::canonical(&format!("\\??\\{rest}")),
        None => crate::object::canonical(path),
    }
}

/// The devnode whose PDO `device` is (and that PDO not yet deleted).
fn node_of_pdo(k: &State, device: PDEVICE_OBJECT) -> Option<usize> {
    let pnp = lock(&k.pnp);
    let &i = pnp.by_pdo.get(&(device as usize))?;
    (pnp.nodes[i].state != NodeState::Deleted).then_some(i)
}

/// Writes `name` into a pool block charged to the calling driver and points `out` at it.
///
/// # Safety
/// `out` must be writable.
unsafe fn return_name(out: PUNICODE_STRING, name: &str) -> bool {
    let units: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
    let bytes = units.len() * 2;
    let buffer =
        crate::pool::ExAllocatePoolWithTag(wdm_sys::_POOL_TYPE::PagedPool, bytes as u64, NAME_TAG).cast::<u16>();
    if buffer.is_null() {
        return false;
    }
    // SAFETY: a fresh pool block of `bytes` bytes, 16-byte aligned.
    unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), buffer, units.len()) };
    // SAFETY: `out` is writable (caller's contract).
    unsafe {
        out.write(UNICODE_STRING {
            Length: (bytes - 2) as u16,
            MaximumLength: bytes as u16,
            Buffer: buffer,
        })
    };
    true
}

/// `IoRegisterDeviceInterface`.
///
/// # Safety
/// Kernel routine: `guid` readable, `reference` NULL or a valid UNICODE_STRING, `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoRegisterDeviceInterface(
    pdo: PDEVICE_OBJECT,
    guid: *const GUID,
    reference: PUNICODE_STRING,
    out: PUNICODE_STRING,
) -> NTSTATUS {
    let k = current();
    if guid.is_null() || out.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: `out` is writable (caller's contract): empty until there is a name.
    unsafe { out.write(UNICODE_STRING::default()) };
    let Some(i) = node_of_pdo(k, pdo) else {
        return STATUS_INVALID_DEVICE_REQUEST;
    };
    // SAFETY: the caller passes NULL or a valid UNICODE_STRING.
    let reference = unsafe { crate::object::read_unicode(reference) }.filter(|r| !r.is_empty());
    if reference.as_deref().is_some_and(|r| r.contains(['\\', '/'])) {
        return STATUS_INVALID_DEVICE_REQUEST;
    }
    // SAFETY: `guid` is readable (caller's contract).
    let class = guid_text(unsafe { &*guid });
    let (name, new) = {
        let pnp = lock(&k.pnp);
        let lower = |r: &Option<String>| r.as_deref().map(str::to_lowercase);
        match pnp
            .interfaces
            .iter()
            .find(|f| f.node == i && f.class == class && lower(&f.reference) == lower(&reference))
        {
            Some(f) => (f.name(), None),
            None => {
                let f = Interface {
                    node: i,
                    link: format!("\\??\\{}#{class}", pnp.nodes[i].instance_path.replace('\\', "#")),
                    class,
                    reference,
                    enabled: false,
                };
                (f.name(), Some(f))
            }
        }
    };
    // SAFETY: `out` is writable (caller's contract).
    if !unsafe { return_name(out, &name) } {
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    let Some(f) = new else {
        return STATUS_OBJECT_NAME_EXISTS;
    };
    lock(&k.pnp).interfaces.push(f);
    STATUS_SUCCESS
}

/// `IoSetDeviceInterfaceState`.
///
/// # Safety
/// Kernel routine: `name` must be a valid UNICODE_STRING.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn IoSetDeviceInterfaceState(name: PUNICODE_STRING, enable: wdm_sys::BOOLEAN) -> NTSTATUS {
    let k = current();
    // SAFETY: caller's contract.
    let Some(name) = (unsafe { crate::object::read_unicode(name) }) else {
        return STATUS_INVALID_PARAMETER;
    };
    let key = canonical(&name);
    let mut pnp = lock(&k.pnp);
    let Some(f) = pnp.interfaces.iter().position(|f| canonical(&f.name()) == key) else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    };
    let node = pnp.interfaces[f].node;
    let state = pnp.nodes[node].state;
    let interface = &mut pnp.interfaces[f];
    if enable == 0 {
        if !interface.enabled {
            return STATUS_OBJECT_NAME_NOT_FOUND;
        }
        interface.enabled = false;
        return STATUS_SUCCESS;
    }
    if interface.enabled {
        return STATUS_OBJECT_NAME_EXISTS;
    }
    interface.enabled = true;
    drop(pnp);
    let starting = matches!(
        state,
        NodeState::StartPending
            | NodeState::Started
            | NodeState::QueryStopped
            | NodeState::Stopped
            | NodeState::QueryRemoved
    );
    if !starting {
        k.report(
            Rule::PnpInterfaceEnabledNotStarted,
            "IoSetDeviceInterfaceState",
            None,
            [0, 0, 0, 0],
            format!("{name} enabled while its device is {state:?}: enable interfaces in START, once the lower drivers have started the device"),
        );
    }
    STATUS_SUCCESS
}

/// After REMOVE completed on node `i`: its interfaces must be disabled; the manager disables
/// any still enabled, and reports each.
pub(crate) fn check_removed(k: &State, i: usize) {
    let left: Vec<String> = {
        let mut pnp = lock(&k.pnp);
        pnp.interfaces
            .iter_mut()
            .filter(|f| f.node == i && f.enabled)
            .map(|f| {
                f.enabled = false;
                f.name()
            })
            .collect()
    };
    for name in left {
        k.report(
            Rule::PnpInterfaceEnabledAfterRemove,
            "IRP_MN_REMOVE_DEVICE",
            None,
            [0, 0, 0, 0],
            format!("{name} is still enabled after REMOVE: disable it in SURPRISE_REMOVAL or REMOVE (the PnP manager disables it now)"),
        );
    }
}

/// The enabled interface a path opens, as (devnode, rest of the path after the link: the
/// FileName the driver sees); `Some(Err)` for a registered interface that is not enabled; `None`
/// if the path names no interface.
pub(crate) fn lookup(k: &State, path: &str) -> Option<Result<(usize, String), NTSTATUS>> {
    let key = canonical(path);
    let pnp = lock(&k.pnp);
    let under = |name: &str| {
        let n = canonical(name);
        key.strip_prefix(&n)
            .filter(|rest| rest.is_empty() || rest.starts_with('\\'))
            .map(|_| n.len())
    };
    let mut best: Option<(usize, &Interface)> = None;
    let mut registered = false;
    for f in pnp.interfaces.iter() {
        let Some(len) = under(&f.name()) else { continue };
        registered = true;
        if f.enabled && best.is_none_or(|(l, _)| len > l) {
            best = Some((len, f));
        }
    }
    match best {
        Some((_, f)) => {
            // The rest of the path after the link, as the caller spelled it (canonical forms
            // differ from the path only in the prefix and in case).
            let link = canonical(&f.link).len();
            let rest = (path.len().checked_sub(key.len() - link))
                .and_then(|start| path.get(start..))
                .unwrap_or(&key[link..]);
            Some(Ok((f.node, rest.to_owned())))
        }
        None if registered => Some(Err(STATUS_OBJECT_NAME_NOT_FOUND)),
        None => None,
    }
}
