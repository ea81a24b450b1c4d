# Sourced by bench/run.sh and bench/gpu.sh: the job spec of a benchmark run, the reference's
# hyper-parameters (3 epochs, batch 16, lr 2e-5, max length 128), no checkpoints.
# write_spec FILE NAME BUCKETING DATA MODEL DEVICE [SEED]
write_spec() {
  cat > "$1" <<TOML
[job]
name = "$2"
partition = "gpu"
time = "2:00:00"
[train]
data = "$4"
model = "$5"
device = "$6"
epochs = 3
batch_size = 16
learning_rate = 2e-5
max_length = 128
seed = ${7:-42}
length_bucketing = $3
checkpoint_every = 0
log_every = 20
TOML
}
