package io.quarry.worker.collective;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One member's listening side of the data plane: a TCP port its left neighbours connect to. A thread of its own
 * accepts connections and reads their hellos ({@link RingWire}); a connection says which ring epoch and which rank it
 * comes from, and waits here until that epoch's ring asks for it ({@link #awaitLeft}). Connections of an epoch older
 * than the newest one asked for are closed on arrival and counted ({@link #droppedConnections}): chunks of an old
 * epoch never reach a newer ring. A connection whose hello does not arrive within {@link #HELLO_TIMEOUT_NS} is closed.
 */
public final class DataPlaneEndpoint implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DataPlaneEndpoint.class);
  private static final long HELLO_TIMEOUT_NS = 10_000_000_000L;

  private record Key(long epoch, int rank) {}

  private record Pending(ByteBuffer hello, long acceptedNs) {}

  private final ServerSocketChannel server;
  private final Selector selector;
  private final InetSocketAddress address;
  private final Thread acceptor;
  private final AtomicLong dropped = new AtomicLong();
  /** Guarded by {@code this}. */
  private final Map<Key, SocketChannel> ready = new HashMap<>();
  /** Guarded by {@code this}: connections of epochs below it are dropped. */
  private long oldestEpoch = Long.MIN_VALUE;
  private volatile boolean closed;

  private DataPlaneEndpoint(ServerSocketChannel server, Selector selector) throws IOException {
    this.server = server;
    this.selector = selector;
    this.address = (InetSocketAddress) server.getLocalAddress();
    this.acceptor = new Thread(this::acceptLoop, "data-plane-" + address.getPort());
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Listens on {@code bind} (port 0: any free port); {@link #address} says where. */
  public static DataPlaneEndpoint open(InetSocketAddress bind) throws IOException {
    ServerSocketChannel server = ServerSocketChannel.open();
    try {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(bind, 64);
      server.configureBlocking(false);
      Selector selector = Selector.open();
      server.register(selector, SelectionKey.OP_ACCEPT);
      return new DataPlaneEndpoint(server, selector);
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e;
    }
  }

  /** Where the left neighbours connect. */
  public InetSocketAddress address() {
    return address;
  }

  /** Connections closed unused because their epoch was older than the ring's (or superseded by a newer one). */
  public long droppedConnections() {
    return dropped.get();
  }

  /**
   * The connection from rank {@code rank} of ring epoch {@code epoch}, once it has said hello; connections of older
   * epochs are closed from now on. Null when none arrives before {@code deadlineNs} (System.nanoTime).
   */
  public SocketChannel awaitLeft(long epoch, int rank, long deadlineNs) throws InterruptedException {
    synchronized (this) {
      retireBelow(epoch);
      Key key = new Key(epoch, rank);
      while (!closed) {
        SocketChannel channel = ready.remove(key);
        if (channel != null) return channel;
        long waitNs = deadlineNs - System.nanoTime();
        if (waitNs <= 0) return null;
        long ms = Math.max(1, waitNs / 1_000_000);
        wait(ms);
      }
      return null;
    }
  }

  /** Closes the waiting connections of epochs below {@code epoch}, and every later one that arrives. */
  public synchronized void retireBelow(long epoch) {
    if (epoch <= oldestEpoch) return;
    oldestEpoch = epoch;
    for (Iterator<Map.Entry<Key, SocketChannel>> it = ready.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<Key, SocketChannel> entry = it.next();
      if (entry.getKey().epoch() < epoch) {
        drop(entry.getValue());
        it.remove();
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      selector.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    quietly(server);
    synchronized (this) {
      ready.values().forEach(DataPlaneEndpoint::quietly);
      ready.clear();
      notifyAll();
    }
    acceptor.interrupt();
  }

  private void acceptLoop() {
    try {
      while (!closed) {
        selector.select(1000);
        for (Iterator<SelectionKey> it = selector.selectedKeys().iterator(); it.hasNext(); ) {
          SelectionKey key = it.next();
          it.remove();
          if (!key.isValid()) continue;
          if (key.isAcceptable()) {
            accept();
          } else if (key.isReadable()) {
            readHello(key);
          }
        }
        expireSlowHellos();
      }
    } catch (ClosedSelectorException e) {
      // closed
    } catch (IOException | RuntimeException e) {
      if (!closed) LOG.warn("data plane {}: the acceptor stopped: {}", address, e.toString());
    }
  }

  private void accept() throws IOException {
    SocketChannel channel;
    while ((channel = server.accept()) != null) {
      channel.configureBlocking(false);
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      channel.register(selector, SelectionKey.OP_READ,
          new Pending(ByteBuffer.allocate(RingWire.HELLO_BYTES), System.nanoTime()));
    }
  }

  private void readHello(SelectionKey key) {
    SocketChannel channel = (SocketChannel) key.channel();
    Pending pending = (Pending) key.attachment();
    try {
      if (channel.read(pending.hello()) < 0) {
        key.cancel();
        quietly(channel);
        return;
      }
    } catch (IOException e) {
      key.cancel();
      quietly(channel);
      return;
    }
    if (pending.hello().hasRemaining()) return;
    key.cancel(); // the ring's own selector takes the channel from here
    ByteBuffer hello = pending.hello().flip();
    int magic = hello.getInt();
    int version = hello.getInt();
    long epoch = hello.getLong();
    int rank = hello.getInt();
    if (magic != RingWire.HELLO_MAGIC || version != RingWire.VERSION) {
      LOG.warn("data plane {}: closed a connection that is not a ring member's (magic {}, version {})", address,
          Integer.toHexString(magic), version);
      quietly(channel);
      return;
    }
    synchronized (this) {
      if (epoch < oldestEpoch) {
        drop(channel);
        return;
      }
      SocketChannel previous = ready.put(new Key(epoch, rank), channel);
      if (previous != null) drop(previous);
      notifyAll();
    }
  }

  private void expireSlowHellos() {
    long now = System.nanoTime();
    List<SelectionKey> expired = new ArrayList<>();
    for (SelectionKey key : selector.keys()) {
      if (key.attachment() instanceof Pending pending && now - pending.acceptedNs() > HELLO_TIMEOUT_NS) {
        expired.add(key);
      }
    }
    for (SelectionKey key : expired) {
      key.cancel();
      quietly(key.channel());
    }
  }

  private void drop(SocketChannel channel) {
    dropped.incrementAndGet();
    quietly(channel);
  }

  static void quietly(java.nio.channels.Channel channel) {
    try {
      if (channel != null) channel.close();
    } catch (IOException ignored) {
      // already broken
    }
  }
}
