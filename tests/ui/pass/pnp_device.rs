// The correct twin of tests/ui/fail/pnp: a function driver with every hook, a filter that
// forwards with a completion routine, a remove-lock guard handed to a thread, and both
// entries instantiated.
use wdm::pnp::{DevicePowerState, NewDevice, PnpDevice, RemoveLockGuard, Role, Started};
use wdm::{CompletionRoutine, Dispatch, Irp, LowerCompleted, LowerDevice, Next, Outcome, Status, Unlocked};

struct Function;

impl PnpDevice for Function {
    const ROLE: Role = Role::Function;
    const DISPATCH: Dispatch<Self> = Dispatch::new().create(Self::open).close(Self::open);

    fn add_device(_device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Function)
    }
    fn start(&self, _started: &Started<'_>, _cx: &mut Unlocked) -> Result<(), Status> {
        Ok(())
    }
    fn query_stop(&self, _cx: &mut Unlocked) -> Result<(), Status> {
        Err(Status::DEVICE_BUSY) // a veto is allowed here
    }
    fn stop(&self, _cx: &mut Unlocked) {}
    fn query_remove(&self, _cx: &mut Unlocked) -> Result<(), Status> {
        Ok(())
    }
    fn surprise_removal(&self, _cx: &mut Unlocked) {}
    fn remove(&self, _cx: &mut Unlocked) {}
    fn d0_exit(&self, _target: DevicePowerState, _cx: &mut Unlocked) {}
    fn d0_entry(&self, _cx: &mut Unlocked) {}
}

impl Function {
    fn open<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        match irp.acquire_remove_lock(7) {
            Ok(guard) => {
                let worker: std::thread::JoinHandle<()> = std::thread::spawn(move || drop::<RemoveLockGuard>(guard));
                drop(worker);
                irp.complete(Status::SUCCESS, cx).into()
            }
            Err(status) => irp.complete(status, cx).into(),
        }
    }
}

struct Filter {
    lower: LowerDevice<Filter>,
}

struct Done;

impl CompletionRoutine<Filter> for Done {
    fn completed<'c>(_: &Filter, irp: LowerCompleted<'c>, _cx: &mut Unlocked) -> Next<'c> {
        irp.pass_up()
    }
}

impl PnpDevice for Filter {
    const ROLE: Role = Role::Filter;
    const DISPATCH: Dispatch<Self> = Dispatch::new().read(Self::read);

    fn add_device(device: &NewDevice<'_, Self>) -> Result<Self, Status> {
        Ok(Filter { lower: device.lower() })
    }
}

impl Filter {
    fn read<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.forward_with::<Filter, Done>(&self.lower, cx)
    }
}

fn main() {
    let kernel = wdm_sim::Kernel::new();
    let f = kernel.load("function", wdm::pnp::entry::<Function>).unwrap();
    let g = kernel.load("filter", wdm::pnp::entry::<Filter>).unwrap();
    f.unload();
    g.unload();
}
