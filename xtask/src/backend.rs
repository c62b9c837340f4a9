//! Run-time choice of the burn backend: every command is generic over `B: Backend` and this
//! module monomorphises it once per backend compiled into the binary.

use anyhow::{Result, bail};
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use clap::ValueEnum;

/// The burn backends a command can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CPU, burn-ndarray.
    Ndarray,
    /// CPU, burn-flex.
    Flex,
    /// GPU through wgpu (build with `--features wgpu`).
    Wgpu,
    /// NVIDIA GPU through CUDA (build with `--features cuda`).
    Cuda,
}

/// A command body generic over the backend. It receives the autodiff wrapper of the chosen
/// backend; inference-only work runs on `B::InnerBackend` (same device type).
pub trait BackendTask {
    /// The command's result.
    type Output;
    /// Runs the command on backend `B` and `devices` (never empty; commands that use one
    /// device take the first).
    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Self::Output>;
}

/// Runs `task` on the chosen backend and the devices of `indices` (GPU indices; on the CPU
/// backends every index is the CPU, so `0,1` means two CPU workers).
pub fn dispatch<T: BackendTask>(
    choice: BackendChoice,
    indices: &[usize],
    task: T,
) -> Result<T::Output> {
    if indices.is_empty() {
        bail!("--devices: give at least one device index");
    }
    match choice {
        BackendChoice::Ndarray => task.run::<Autodiff<burn::backend::NdArray>>(
            &vec![burn::backend::ndarray::NdArrayDevice::Cpu; indices.len()],
        ),
        BackendChoice::Flex => {
            task.run::<Autodiff<burn::backend::Flex>>(&vec![Default::default(); indices.len()])
        }
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => {
            use burn::backend::wgpu::WgpuDevice;
            let devices: Vec<WgpuDevice> = indices
                .iter()
                .map(|&index| match (index, indices.len()) {
                    (0, 1) => WgpuDevice::default(),
                    _ => WgpuDevice::DiscreteGpu(index),
                })
                .collect();
            task.run::<Autodiff<burn::backend::Wgpu>>(&devices)
        }
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => {
            cuda_available()?;
            let devices: Vec<_> = indices
                .iter()
                .map(|&index| burn::backend::cuda::CudaDevice::new(index))
                .collect();
            task.run::<Autodiff<burn::backend::Cuda>>(&devices)
        }
        #[allow(unreachable_patterns)]
        other => {
            let name = format!("{other:?}").to_lowercase();
            bail!(
                "backend '{name}' was not compiled into this binary: run `cargo run -p xtask --features {name} -- ...`"
            )
        }
    }
}

/// Fails with a clear message when the CUDA driver library cannot be found (burn would panic).
#[cfg(feature = "cuda")]
fn cuda_available() -> Result<()> {
    let found = ["libcuda.so.1", "libcuda.so"].iter().any(|name| {
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/local/cuda/lib64",
            "/usr/lib/wsl/lib",
        ]
        .iter()
        .any(|dir| std::path::Path::new(dir).join(name).exists())
    }) || std::env::var("LD_LIBRARY_PATH").is_ok_and(|paths| {
        paths
            .split(':')
            .any(|dir| std::path::Path::new(dir).join("libcuda.so.1").exists())
    });
    if !found {
        bail!("backend 'cuda': no CUDA driver (libcuda.so.1) found on this machine");
    }
    Ok(())
}
