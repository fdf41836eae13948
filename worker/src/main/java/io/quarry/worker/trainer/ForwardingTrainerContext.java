package io.quarry.worker.trainer;

import io.quarry.config.RunConfig;
import io.quarry.protocol.ShardAssignment;
import io.quarry.worker.hardexamples.HardExampleSink;
import io.quarry.worker.telemetry.TelemetryEmitter;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A context that hands every call to another one: extend it and override what a wrapper changes (a sink that adds
 * to each offer, telemetry that timestamps steps), so the rest stays the wrapped context's.
 */
public abstract class ForwardingTrainerContext implements TrainerContext {
  protected final TrainerContext delegate;

  protected ForwardingTrainerContext(TrainerContext delegate) {
    this.delegate = delegate;
  }

  @Override
  public String runId() {
    return delegate.runId();
  }

  @Override
  public String workerId() {
    return delegate.workerId();
  }

  @Override
  public String device() {
    return delegate.device();
  }

  @Override
  public RunConfig config() {
    return delegate.config();
  }

  @Override
  public ShardAssignment assignment() {
    return delegate.assignment();
  }

  @Override
  public Path checkpointDir() {
    return delegate.checkpointDir();
  }

  @Override
  public io.quarry.worker.checkpoint.CheckpointStore checkpointStore() {
    return delegate.checkpointStore();
  }

  @Override
  public Optional<Path> resumeFrom() {
    return delegate.resumeFrom();
  }

  @Override
  public Optional<Path> initFrom() {
    return delegate.initFrom();
  }

  @Override
  public boolean stopRequested() {
    return delegate.stopRequested();
  }

  @Override
  public HardExampleSink hardExamples() {
    return delegate.hardExamples();
  }

  @Override
  public TelemetryEmitter telemetry() {
    return delegate.telemetry();
  }

  @Override
  public void payloads(PayloadRenderer renderer) {
    delegate.payloads(renderer);
  }

  @Override
  public void checkpointSaved(long step, Path checkpoint) {
    delegate.checkpointSaved(step, checkpoint);
  }

  @Override
  public float[] averageParameters(long round, float[] params) throws InterruptedException {
    return delegate.averageParameters(round, params);
  }

  @Override
  public GradientRound allReduceGradients(long round, float[] gradients,
      java.util.function.Supplier<float[]> parameters) throws InterruptedException {
    return delegate.allReduceGradients(round, gradients, parameters);
  }
}
