"""PyTorch's side of the CUDA target's GPU check (run by run_on_gpu.sh on the GPU machine, which has PyTorch but no
Swift). `prepare FOLDER` writes the weights (PyTorch's default initialization, seeded), a random input, and PyTorch's output
on the CPU and on the GPU (fp32: TF32 off in cuDNN and cuBLAS, as Danlu's cuBLAS calls compute); `time FOLDER` prints PyTorch
eager's median ms over 20 runs after warm-up, timed with CUDA events. The models are torchvision's, and this
repository's MLP and LeNet-5 written in torch with the state_dict names their specs use. Without a GPU (the script's
own rehearsal, run_on_gpu.sh with DANLU_EMULATED=1) the GPU output is the CPU's and `time` times the CPU."""
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
GPU = torch.cuda.is_available()


class LeNet5(nn.Module):
    """Models/lenet5.yaml, with its layer names."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class Wrapped(nn.Module):
    """A module under the attribute name the spec gives it (`lstm.`, `layer.`), returning its first output."""

    def __init__(self, name, module):
        super().__init__()
        setattr(self, name, module)
        self.name = name

    def forward(self, x):
        y = getattr(self, self.name)(x)
        return y[0] if isinstance(y, tuple) else y


def model_for(name):
    if name in ("resnet18", "resnet50", "vgg16"):
        import torchvision
        return getattr(torchvision.models, name)()
    if name == "lenet5":
        return LeNet5()
    if name == "mlp":  # Models/mlp.yaml: nn.Sequential's names 1.*, 3.*, 5.*
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "lstm":  # Models/lstm.yaml: nn.LSTM(128, 256) under `lstm.`, sequence first
        return Wrapped("lstm", nn.LSTM(128, 256))
    if name == "transformer_encoder_layer":  # under `layer.`, batch first
        return Wrapped("layer", nn.TransformerEncoderLayer(512, 8, 2048, dropout=0.0, batch_first=True))
    raise SystemExit(f"no PyTorch model for {name}")


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, tensor in tensors.items():
        blob = tensor.detach().cpu().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def setup(folder):
    name, batch = folder.rsplit("_b", 1)
    torch.manual_seed(0)
    model = model_for(name).eval()
    shapes = {"mlp": (int(batch), 1, 28, 28), "lenet5": (int(batch), 1, 28, 28), "lstm": (64, int(batch), 128),
              "transformer_encoder_layer": (int(batch), 128, 512)}
    shape = shapes.get(name, (int(batch), 3, 224, 224))
    return model, shape


def main():
    command, folder = sys.argv[1], sys.argv[2].rstrip("/")
    model, shape = setup(folder)
    if command == "prepare":
        write_safetensors(f"{folder}/model.safetensors",
                          {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")})
        x = torch.randn(shape)
        np.save(f"{folder}/input.npy", x.numpy())
        with torch.no_grad():
            np.save(f"{folder}/cpu.npy", model(x).numpy())  # the CPU reference, fp32
            on_gpu = model.cuda()(x.cuda()).cpu() if GPU else model(x)
            np.save(f"{folder}/torch.npy", on_gpu.numpy())
        return
    device = "cuda" if GPU else "cpu"
    model, x = model.to(device), torch.randn(shape).to(device)
    times = []
    with torch.no_grad():
        for _ in range(5):
            model(x)
        for _ in range(20):
            if GPU:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            else:
                began = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - began) * 1e3)
    print(f"{sorted(times)[len(times) // 2]:.4f}")


if __name__ == "__main__":
    main()
