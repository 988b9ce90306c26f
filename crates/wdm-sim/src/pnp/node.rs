//! The harness's side of the PnP manager: [`DeviceNode`], one devnode of the simulated tree,
//! and the [`Kernel`] methods that make and open devnodes. What the manager does is in
//! [`crate::pnp`]; this is the test-facing API over it (`docs/simulator.md`, *PnP and remove
//! locks*).

use wdm_sys::{GUID, NT_SUCCESS, NTSTATUS, PDEVICE_OBJECT, STATUS_NO_SUCH_DEVICE};

use crate::harness::{Driver, File, Kernel};
use crate::kernel::{Bound, as_driver, lock};
use crate::pnp::NodeState;

impl Kernel {
    /// A root-enumerated device: the root bus (the simulator's `\Driver\PnpManager`) creates
    /// its PDO. Drivers are added to its stack with [`DeviceNode::add_driver`].
    pub fn add_root_device(&self, hardware_id: &str) -> DeviceNode<'_> {
        let index = crate::pnp::add_root_device(self, hardware_id);
        DeviceNode { kernel: self, index }
    }

    /// Opens the top of a started device's stack (CreateFile on its interface): STATUS_NO_SUCH_DEVICE
    /// before START has succeeded or once removal has begun (see [`NodeState`]).
    pub fn open_device(&self, node: &DeviceNode<'_>) -> Result<File<'_>, NTSTATUS> {
        open_node(self, node.index, None)
    }

    /// The enabled device interfaces of class `class`, as the user-mode paths SetupDi returns
    /// (`\\?\ROOT#PNPTEST#0000#{guid}`), in registration order. Each opens with [`open`](Self::open).
    pub fn device_interfaces(&self, class: &GUID) -> Vec<String> {
        let class = crate::pnp::interface::guid_text(class);
        lock(&self.state.pnp)
            .interfaces
            .iter()
            .filter(|f| f.enabled && f.class == class)
            .map(crate::pnp::interface::Interface::user_path)
            .collect()
    }

    /// Runs the PnP manager's queued actions, oldest first, as its worker thread would
    /// (IoInvalidateDeviceState: QUERY_PNP_DEVICE_STATE, and a surprise removal or a rebalance
    /// if the answer says so; IoInvalidateDeviceRelations(BusRelations): the relations query),
    /// including any the actions queue meanwhile. Returns how many ran. See `src/pnp/actions.rs`.
    pub fn run_pnp_actions(&self) -> usize {
        use crate::pnp::actions::Action;
        let mut ran = 0;
        while let Some((index, action)) = crate::pnp::actions::next(&self.state) {
            ran += 1;
            let node = DeviceNode { kernel: self, index };
            if node.state() != NodeState::Started {
                continue;
            }
            match action {
                Action::State => {
                    let flags = node.query_device_state();
                    node.act_on_device_state(flags);
                }
                Action::Relations(wdm_sys::_DEVICE_RELATION_TYPE::BusRelations) => node.query_bus_relations(),
                Action::Relations(_) => {}
            }
        }
        ran
    }

    /// Whether `device` is registered as a WMI provider (IoWMIRegistrationControl).
    pub fn wmi_registered(&self, device: PDEVICE_OBJECT) -> bool {
        crate::pnp::wmi::is_registered(&self.state, device as usize)
    }
}

/// [`Kernel::open`] of a path that names a devnode: an interface (enabled: the create goes to
/// the top of the stack, with the rest of the path as FileName; registered but disabled:
/// STATUS_OBJECT_NAME_NOT_FOUND), or the name of a device of its stack (the PDO's
/// `\Device\0000000n`, or a name a driver gave its FDO). None for any other path.
pub(crate) fn open_path<'k>(kernel: &'k Kernel, path: &str) -> Option<Result<File<'k>, NTSTATUS>> {
    let k = &kernel.state;
    match crate::pnp::interface::lookup(k, path) {
        Some(Ok((i, rest))) => return Some(open_node(kernel, i, Some(rest).filter(|r| !r.is_empty()))),
        Some(Err(status)) => return Some(Err(status)),
        None => {}
    }
    let device = lock(&k.objects).resolve(path)?;
    let live: Vec<(usize, usize)> = {
        let pnp = lock(&k.pnp);
        (pnp.nodes.iter().enumerate())
            .filter(|(_, n)| n.state != NodeState::Deleted)
            .map(|(i, n)| (i, n.pdo))
            .collect()
    };
    let (i, _) = live
        .into_iter()
        .find(|&(i, pdo)| pdo == device || crate::pnp::stack_above(k, i).contains(&device))?;
    Some(open_node(kernel, i, None))
}

/// A create on devnode `i`: to the top of its stack if its state lets creates through.
fn open_node<'k>(kernel: &'k Kernel, i: usize, file_name: Option<String>) -> Result<File<'k>, NTSTATUS> {
    let (state, pdo) = {
        let pnp = lock(&kernel.state.pnp);
        (pnp.nodes[i].state, pnp.nodes[i].pdo as PDEVICE_OBJECT)
    };
    if !matches!(state, NodeState::Started | NodeState::QueryStopped | NodeState::Stopped) {
        return Err(STATUS_NO_SUCH_DEVICE);
    }
    let top = {
        let _bound = Bound::new(&kernel.state);
        // SAFETY: the PDO of a started node is live.
        unsafe { crate::request::top_of_stack(pdo) }
    };
    kernel.open_object(top, Some(i), file_name.as_deref())
}

/// A devnode of the simulated PnP manager: a PDO the root bus created, and the stack drivers
/// build on it (see `docs/simulator.md`, *PnP and remove locks*).
pub struct DeviceNode<'k> {
    pub(crate) kernel: &'k Kernel,
    pub(crate) index: usize,
}

impl DeviceNode<'_> {
    /// Its PDO.
    pub fn pdo(&self) -> PDEVICE_OBJECT {
        lock(&self.kernel.state.pnp).nodes[self.index].pdo as PDEVICE_OBJECT
    }

    /// Its device instance path, `ROOT\<ID>\<NNNN>` (the hardware ID without `ROOT\`, upper
    /// case, and the instance number among root devnodes with that ID).
    pub fn instance_path(&self) -> String {
        lock(&self.kernel.state.pnp).nodes[self.index].instance_path.clone()
    }

    /// The hardware ID it was created with.
    pub fn hardware_id(&self) -> String {
        lock(&self.kernel.state.pnp).nodes[self.index].hardware_id.clone()
    }

    /// Where it is in its life.
    pub fn state(&self) -> NodeState {
        lock(&self.kernel.state.pnp).nodes[self.index].state
    }

    /// The PNP_DEVICE_STATE flags of the last QUERY_PNP_DEVICE_STATE that succeeded (None if
    /// none was answered). PNP_DEVICE_NOT_DISABLEABLE is recorded, not acted on.
    pub fn device_state(&self) -> Option<u32> {
        lock(&self.kernel.state.pnp).nodes[self.index]
            .device_state
            .map(|f| f as u32)
    }

    /// The PnP IRPs sent to the stack so far (minor code, completion status), in order.
    pub fn sent(&self) -> Vec<(u8, NTSTATUS)> {
        lock(&self.kernel.state.pnp).nodes[self.index].sent.clone()
    }

    /// The devices stacked above the PDO, bottom up.
    pub fn stack(&self) -> Vec<PDEVICE_OBJECT> {
        crate::pnp::stack_above(&self.kernel.state, self.index)
            .into_iter()
            .map(|d| d as PDEVICE_OBJECT)
            .collect()
    }

    /// Calls `driver`'s AddDevice (`DriverObject->DriverExtension->AddDevice`) with the PDO, at
    /// PASSIVE_LEVEL, as the PnP manager does once the driver is loaded for the device: call it
    /// bottom-up, lower filters first, then the function driver, then upper filters. Returns
    /// what AddDevice returned; a failure sends REMOVE to whatever it left on the stack (§1.2).
    ///
    /// # Panics
    /// If the driver has no AddDevice routine.
    pub fn add_driver(&self, driver: &Driver<'_>) -> NTSTATUS {
        let object = driver.object;
        // SAFETY: the driver object is live while `driver` is.
        let extension = unsafe { (*object).DriverExtension };
        // SAFETY: as above: its extension lives with it.
        let add = unsafe { (*extension).AddDevice }
            .unwrap_or_else(|| panic!("driver {} has no AddDevice routine", driver.name));
        let pdo = self.pdo();
        let before = crate::pnp::stack_above(&self.kernel.state, self.index);
        // SAFETY: AddDevice gets its own driver object and the live PDO, as on Windows.
        let status = self
            .kernel
            .run(|| as_driver(object as usize, || unsafe { add(object, pdo) }));
        let after = crate::pnp::stack_above(&self.kernel.state, self.index);
        crate::pnp::check_added(self.kernel, &before, &after);
        if NT_SUCCESS(status) {
            let mut pnp = lock(&self.kernel.state.pnp);
            let node = &mut pnp.nodes[self.index];
            if node.state == NodeState::Initialized {
                node.state = NodeState::DriversAdded;
            }
        } else if after.len() > before.len() {
            self.send_remove();
        }
        status
    }

    /// Starts the device (§2.1): IRP_MN_START_DEVICE (no resources: both lists NULL) to the top
    /// of the stack; on success QUERY_CAPABILITIES (pre-filled buffer), QUERY_PNP_DEVICE_STATE
    /// and QUERY_DEVICE_RELATIONS(BusRelations), and, with I/O verification on, Driver
    /// Verifier's IRP of an unknown minor code, which must reach the PDO untouched. A failed
    /// START is followed by REMOVE (§2.5). Returns START's status. Once the sequence is over,
    /// a QUERY_PNP_DEVICE_STATE answer of REMOVED, or FAILED without
    /// RESOURCE_REQUIREMENTS_CHANGED, is acted on as a surprise removal, FAILED with it as a
    /// rebalance (§2.1 step 13).
    ///
    /// While START is on its way the devnode is [`NodeState::StartPending`]: creates fail, and
    /// drivers may enable their interfaces.
    ///
    /// # Panics
    /// If the devnode has been started already (see [`restart`](Self::restart)) or is removed.
    pub fn start(&self) -> NTSTATUS {
        use crate::pnp::send;
        self.expect_state("START", &[NodeState::Initialized, NodeState::DriversAdded]);
        let started = self.send_start();
        if !NT_SUCCESS(started) {
            self.send_remove();
            return started;
        }
        let mut caps = crate::pnp::capabilities();
        let caps_ptr: *mut wdm_sys::_DEVICE_CAPABILITIES = &mut *caps;
        send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_QUERY_CAPABILITIES as u8,
            |irp| {
                // SAFETY: the fresh IRP's first location; the buffer outlives the IRP.
                let next = unsafe { crate::irp::next_location(irp) };
                next.Parameters.DeviceCapabilities.Capabilities = caps_ptr;
            },
        );
        let device_state = self.query_device_state();
        self.query_bus_relations();
        if self
            .kernel
            .state
            .io_verification
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            send(self.kernel, self.index, crate::pnp::UNKNOWN_MINOR, |_| {});
        }
        self.act_on_device_state(device_state);
        started
    }

    /// QUERY_PNP_DEVICE_STATE: the PNP_DEVICE_STATE flags if it succeeded.
    fn query_device_state(&self) -> Option<usize> {
        let c = crate::pnp::send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_QUERY_PNP_DEVICE_STATE as u8,
            |_| {},
        );
        let flags = NT_SUCCESS(c.status).then_some(c.information);
        lock(&self.kernel.state.pnp).nodes[self.index].device_state = flags;
        flags
    }

    /// §2.1 step 13: a device that reports itself REMOVED, or FAILED without
    /// RESOURCE_REQUIREMENTS_CHANGED, is gone (a surprise removal); FAILED with it is rebalanced.
    fn act_on_device_state(&self, flags: Option<usize>) {
        use crate::pnp::actions::{Verdict, verdict};
        match flags.map(verdict) {
            Some(Verdict::Gone) => {
                self.surprise_remove();
            }
            Some(Verdict::Rebalance) => {
                let _ = self.rebalance();
            }
            _ => {}
        }
    }

    /// IRP_MN_START_DEVICE, with the devnode StartPending while it runs, then Started if it
    /// succeeded and back where it was if it failed.
    fn send_start(&self) -> NTSTATUS {
        let previous = self.state();
        self.set_state(NodeState::StartPending);
        let status = crate::pnp::send(self.kernel, self.index, wdm_sys::IRP_MN_START_DEVICE as u8, |_| {}).status;
        self.set_state(if NT_SUCCESS(status) {
            NodeState::Started
        } else {
            previous
        });
        status
    }

    /// QUERY_DEVICE_RELATIONS(BusRelations); a list returned is freed (bus drivers are not yet
    /// modelled).
    fn query_bus_relations(&self) {
        let relations = crate::pnp::send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_QUERY_DEVICE_RELATIONS as u8,
            |irp| {
                // SAFETY: the fresh IRP's first location.
                let next = unsafe { crate::irp::next_location(irp) };
                next.Parameters.QueryDeviceRelations.Type = wdm_sys::_DEVICE_RELATION_TYPE::BusRelations;
            },
        );
        if relations.information != 0 {
            // SAFETY: a DEVICE_RELATIONS list from ExAllocatePool, the manager's to free (a
            // function driver with no children should not return one).
            self.kernel
                .run(|| crate::pool::ExFreePoolWithTag(relations.information as wdm_sys::PVOID, 0));
        }
    }

    fn set_state(&self, state: NodeState) {
        lock(&self.kernel.state.pnp).nodes[self.index].state = state;
    }

    fn expect_state(&self, what: &str, expected: &[NodeState]) {
        let state = self.state();
        assert!(
            expected.contains(&state),
            "{what} on a devnode that is {state:?} (expected one of {expected:?})"
        );
    }

    /// Stops the device for a rebalance (§2.2): IRP_MN_QUERY_STOP_DEVICE; if a driver fails it
    /// (a veto), IRP_MN_CANCEL_STOP_DEVICE to the whole stack, the devnode is Started again, and
    /// the result is `Err` with QUERY_STOP's status. Otherwise IRP_MN_STOP_DEVICE, which must
    /// succeed (0xC4/0x43006 if it fails), and `Ok` with its status; the devnode is then
    /// [`NodeState::Stopped`] until [`restart`](Self::restart). Handles open on the stack do not
    /// veto a stop: the driver holds their I/O (§4).
    ///
    /// # Panics
    /// If the devnode is not started (boot-configured devices stopped before their first START
    /// are not modelled).
    pub fn query_stop_and_stop(&self) -> Result<NTSTATUS, NTSTATUS> {
        self.query_stop()?;
        let stop = crate::pnp::send(self.kernel, self.index, wdm_sys::IRP_MN_STOP_DEVICE as u8, |_| {}).status;
        self.set_state(NodeState::Stopped);
        Ok(stop)
    }

    /// QUERY_STOP, and CANCEL_STOP if it is vetoed.
    fn query_stop(&self) -> Result<(), NTSTATUS> {
        self.expect_state("QUERY_STOP", &[NodeState::Started]);
        let query = crate::pnp::send(self.kernel, self.index, wdm_sys::IRP_MN_QUERY_STOP_DEVICE as u8, |_| {}).status;
        if NT_SUCCESS(query) {
            self.set_state(NodeState::QueryStopped);
            return Ok(());
        }
        self.set_state(NodeState::QueryStopped);
        self.cancel_stop();
        Err(query)
    }

    /// CANCEL_STOP (it must succeed); the devnode is Started again.
    fn cancel_stop(&self) -> NTSTATUS {
        let status = crate::pnp::send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_CANCEL_STOP_DEVICE as u8,
            |_| {},
        )
        .status;
        self.set_state(NodeState::Started);
        status
    }

    /// QUERY_STOP succeeds, then something else vetoes the rebalance (another device's
    /// QUERY_STOP failed): IRP_MN_CANCEL_STOP_DEVICE. `Ok` with CANCEL_STOP's status, or `Err`
    /// with QUERY_STOP's if the driver vetoed itself (CANCEL_STOP is sent then too). The devnode
    /// is Started again either way.
    ///
    /// # Panics
    /// If the devnode is not started.
    pub fn query_stop_then_cancel(&self) -> Result<NTSTATUS, NTSTATUS> {
        self.query_stop_then_cancel_with(|| {})
    }

    /// [`query_stop_then_cancel`](Self::query_stop_then_cancel), running `between` after the
    /// successful QUERY_STOP and before CANCEL_STOP: what arrives while the device is
    /// stop-pending (a driver holds new I/O from QUERY_STOP on, §4).
    ///
    /// ```no_run
    /// # fn f(node: &wdm_sim::DeviceNode<'_>, file: &wdm_sim::File<'_>) {
    /// let mut write = None;
    /// node.query_stop_then_cancel_with(|| write = Some(file.start_write(b"held")));
    /// assert_eq!(write.unwrap().wait().status, 0); // dispatched at CANCEL_STOP
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the devnode is not started.
    pub fn query_stop_then_cancel_with(&self, between: impl FnOnce()) -> Result<NTSTATUS, NTSTATUS> {
        self.query_stop()?;
        between();
        Ok(self.cancel_stop())
    }

    /// Starts a stopped device again after a rebalance (§2.2 step 4): IRP_MN_START_DEVICE (the
    /// new resource lists are NULL, as the first ones were), then QUERY_DEVICE_RELATIONS
    /// (BusRelations). Decision (⚠ §2.1): a restart is not an enumeration, so neither
    /// QUERY_CAPABILITIES nor QUERY_PNP_DEVICE_STATE is sent again (the spec: not re-sent after a
    /// rebalance; only IoInvalidateDeviceState would), nor Driver Verifier's unknown-minor probe.
    /// A failed restart leads to surprise removal (§2.2): SURPRISE_REMOVAL, then REMOVE once the
    /// last handle closes. Returns START's status.
    ///
    /// # Panics
    /// If the devnode is not stopped.
    pub fn restart(&self) -> NTSTATUS {
        self.expect_state("restart", &[NodeState::Stopped]);
        let started = self.send_start();
        if NT_SUCCESS(started) {
            self.query_bus_relations();
        } else {
            self.surprise_remove();
        }
        started
    }

    /// A rebalance: [`query_stop_and_stop`](Self::query_stop_and_stop), then, unless it was
    /// vetoed, [`restart`](Self::restart). `Err` with QUERY_STOP's status on a veto, otherwise
    /// `Ok` with the restart's START status.
    pub fn rebalance(&self) -> Result<NTSTATUS, NTSTATUS> {
        self.query_stop_and_stop()?;
        Ok(self.restart())
    }

    /// QUERY_REMOVE, then the veto's CANCEL_REMOVE if a driver failed it or a handle is open;
    /// `Ok(())` if the stack agreed (the devnode is QueryRemoved).
    fn query_remove(&self) -> Result<(), NTSTATUS> {
        self.expect_state(
            "QUERY_REMOVE",
            &[NodeState::Initialized, NodeState::DriversAdded, NodeState::Started],
        );
        let previous = self.state();
        let query = crate::pnp::send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_QUERY_REMOVE_DEVICE as u8,
            |_| {},
        )
        .status;
        self.set_state(NodeState::QueryRemoved);
        let open = lock(&self.kernel.state.pnp).nodes[self.index].open;
        if NT_SUCCESS(query) && open == 0 {
            lock(&self.kernel.state.pnp).nodes[self.index].before_query_remove = previous;
            return Ok(());
        }
        self.cancel_remove(previous);
        Err(if NT_SUCCESS(query) {
            wdm_sys::STATUS_DEVICE_BUSY
        } else {
            query
        })
    }

    /// CANCEL_REMOVE (it must succeed); the devnode goes back to `previous`.
    fn cancel_remove(&self, previous: NodeState) -> NTSTATUS {
        let status = crate::pnp::send(
            self.kernel,
            self.index,
            wdm_sys::IRP_MN_CANCEL_REMOVE_DEVICE as u8,
            |_| {},
        )
        .status;
        self.set_state(previous);
        status
    }

    /// Sends IRP_MJ_SYSTEM_CONTROL `minor` (IRP_MN_QUERY_ALL_DATA, IRP_MN_REGINFO_EX, ...) with
    /// Parameters.WMI.ProviderId = `provider` to the top of the stack, as WMI does (§7: IoStatus
    /// NOT_SUPPORTED / 0, DataPath NULL, a zeroed 4096-byte Buffer), and returns how it
    /// completed, after the WMI checks (see `src/pnp/wmi.rs`): completed by a device other than
    /// `provider` (0xC9/0x220), by an unregistered `provider` (SDV WmiForward), or, for a
    /// provider not on this stack, IoStatus changed on its way to the PDO (0xC9/0x210).
    ///
    /// # Panics
    /// If the devnode's PDO is deleted.
    pub fn system_control(&self, minor: u8, provider: PDEVICE_OBJECT) -> crate::Completion {
        self.expect_state(
            "system_control",
            &[
                NodeState::Initialized,
                NodeState::DriversAdded,
                NodeState::Started,
                NodeState::QueryStopped,
                NodeState::Stopped,
                NodeState::QueryRemoved,
                NodeState::SurpriseRemoved,
            ],
        );
        crate::pnp::wmi::send(self.kernel, self.index, minor, provider)
    }

    /// Disable or uninstall (§2.3): IRP_MN_QUERY_REMOVE_DEVICE, then IRP_MN_REMOVE_DEVICE. A
    /// failed QUERY_REMOVE, or a handle still open on the stack, is a veto: CANCEL_REMOVE goes
    /// to the whole stack (the driver that vetoed included, as ReactOS does), the devnode goes
    /// back to its state before the query, and the result is `Err` with QUERY_REMOVE's status
    /// (STATUS_DEVICE_BUSY for an open handle). Otherwise `Ok` with REMOVE's status. The PDO
    /// stays (the device is still present): drivers can be added again. Between the query and
    /// REMOVE the devnode is [`NodeState::QueryRemoved`], and creates fail.
    ///
    /// # Panics
    /// If the devnode is in the middle of another sequence, stopped, or surprise-removed.
    pub fn query_remove_and_remove(&self) -> Result<NTSTATUS, NTSTATUS> {
        self.query_remove()?;
        Ok(self.send_remove())
    }

    /// QUERY_REMOVE succeeds, then something else vetoes the removal (a relation's QUERY_REMOVE
    /// failed, or a user-mode listener refused): IRP_MN_CANCEL_REMOVE_DEVICE, and the devnode
    /// goes back to its state before the query. `Ok` with CANCEL_REMOVE's status, or `Err` as
    /// for [`query_remove_and_remove`](Self::query_remove_and_remove) if the stack vetoed
    /// itself (CANCEL_REMOVE is sent then too).
    ///
    /// # Panics
    /// As [`query_remove_and_remove`](Self::query_remove_and_remove).
    pub fn query_remove_then_cancel(&self) -> Result<NTSTATUS, NTSTATUS> {
        self.query_remove()?;
        let previous = lock(&self.kernel.state.pnp).nodes[self.index].before_query_remove;
        Ok(self.cancel_remove(previous))
    }

    /// The device disappears (§2.4): IRP_MN_SURPRISE_REMOVAL now (it cannot be vetoed), then
    /// IRP_MN_REMOVE_DEVICE once the last handle on the stack closes (at once if none is open),
    /// after which the root bus deletes the PDO. Returns SURPRISE_REMOVAL's status.
    ///
    /// # Panics
    /// If the devnode is already surprise-removed, or in the middle of another sequence.
    pub fn surprise_remove(&self) -> NTSTATUS {
        use crate::pnp::send;
        self.expect_state(
            "SURPRISE_REMOVAL",
            &[
                NodeState::Initialized,
                NodeState::DriversAdded,
                NodeState::Started,
                NodeState::Stopped,
            ],
        );
        let stack = crate::pnp::stack_above(&self.kernel.state, self.index);
        let status = send(self.kernel, self.index, wdm_sys::IRP_MN_SURPRISE_REMOVAL as u8, |_| {}).status;
        crate::pnp::check_surprise_removed(self.kernel, self.index, &stack);
        let open = {
            let mut pnp = lock(&self.kernel.state.pnp);
            let node = &mut pnp.nodes[self.index];
            node.state = NodeState::SurpriseRemoved;
            node.open
        };
        if open == 0 {
            self.remove_gone();
        }
        status
    }

    /// REMOVE for a device that is gone, then the PDO's deletion.
    pub(crate) fn remove_gone(&self) {
        self.send_remove();
        let pdo = self.pdo();
        let root = lock(&self.kernel.state.pnp).root;
        // SAFETY: the root bus deletes its own PDO.
        self.kernel
            .run(|| as_driver(root, || unsafe { crate::object::IoDeleteDevice(pdo) }));
        lock(&self.kernel.state.pnp).nodes[self.index].state = NodeState::Deleted;
    }

    /// IRP_MN_REMOVE_DEVICE, and the checks on what it must leave: nothing above the PDO.
    fn send_remove(&self) -> NTSTATUS {
        let stack = crate::pnp::stack_above(&self.kernel.state, self.index);
        let status = crate::pnp::send(self.kernel, self.index, wdm_sys::IRP_MN_REMOVE_DEVICE as u8, |_| {}).status;
        crate::pnp::check_removed(self.kernel, self.index, &stack);
        {
            let _bound = Bound::new(&self.kernel.state);
            crate::pnp::interface::check_removed(&self.kernel.state, self.index);
        }
        let mut pnp = lock(&self.kernel.state.pnp);
        let node = &mut pnp.nodes[self.index];
        if node.state != NodeState::SurpriseRemoved {
            node.state = NodeState::Initialized;
        }
        status
    }
}
