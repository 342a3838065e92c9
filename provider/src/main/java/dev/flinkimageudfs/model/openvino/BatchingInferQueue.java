package dev.flinkimageudfs.model.openvino;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Gathers crops submitted one at a time into batched OpenVINO infer requests and reports each
 * crop's probabilities (and embedding, when asked) to its callback, in submission order.
 *
 * <p>A full batch starts as soon as a request is idle. A part-filled one starts when none of this
 * queue's requests is running and no crop has arrived for {@link #LINGER_NANOS}: the end of the
 * input, a quiet stream, or an async operator that has all its rows in flight. (A part-filled
 * batch costs as much as a full one; started whenever the queue ran dry, batches of 8 carried 6.5
 * images on average on 2 busy cores.) One thread ({@code waiter}) waits for the running requests,
 * oldest first, runs the callbacks and starts what is due.
 */
public final class BatchingInferQueue implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingInferQueue.class);

    /** How long a part-filled batch waits for more crops when nothing runs: a few decodes. */
    static final long LINGER_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    /** Receives the probabilities of one crop (and its embedding, or null), or why inference failed. */
    public interface Callback {
        void done(float[] probabilities, float[] embedding);

        void failed(Throwable error);
    }

    private static final class Item {
        final byte[] crop;
        final Callback callback;

        Item(byte[] crop, Callback callback) {
            this.crop = crop;
            this.callback = callback;
        }
    }

    private static final class Running {
        final InferRequest request;
        final List<Item> items;

        Running(InferRequest request, List<Item> items) {
            this.request = request;
            this.items = items;
        }
    }

    private final int batchSize;
    private final List<InferRequest> requests = new ArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Deque<InferRequest> idle = new ArrayDeque<>();
    private final Deque<List<Item>> full = new ArrayDeque<>();
    private final Deque<Running> running = new ArrayDeque<>();
    private final Thread waiter;
    private final IntConsumer batchObserver;
    private List<Item> filling = new ArrayList<>();
    private long lastArrival;
    private boolean closed;
    private long batches;
    private long images;

    /**
     * {@code count} requests of {@code model}, reading the embedding too when {@code embedding};
     * {@code batchObserver} hears the size of every batch started (for metrics).
     */
    public BatchingInferQueue(
            ClassificationModel model, boolean embedding, int count, String threadName, IntConsumer batchObserver) {
        this.batchSize = model.batchSize();
        this.batchObserver = batchObserver;
        for (int i = 0; i < count; i++) {
            InferRequest request = model.newRequest(embedding);
            requests.add(request);
            idle.add(request);
        }
        waiter = new Thread(this::work, threadName);
        waiter.setDaemon(true);
        waiter.start();
    }

    /** Queues one crop; {@code callback} runs on the waiter thread. */
    public void submit(byte[] crop, Callback callback) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the inference queue is closed");
            }
            filling.add(new Item(crop, callback));
            lastArrival = System.nanoTime();
            if (filling.size() == batchSize) {
                full.add(filling);
                filling = new ArrayList<>();
            }
            startWhatIsDue();
            changed.signal(); // the waiter (re)starts its linger clock
        } finally {
            lock.unlock();
        }
    }

    /** Nanoseconds until the part-filled batch is due; 0 when it is. Holds the lock. */
    private long lingerLeft() {
        return Math.max(0, LINGER_NANOS - (System.nanoTime() - lastArrival));
    }

    /** Starts full batches on idle requests, and the part-filled one when due. Holds the lock. */
    private void startWhatIsDue() {
        while (!idle.isEmpty()) {
            List<Item> batch = full.poll();
            if (batch == null && running.isEmpty() && !filling.isEmpty() && (closed || lingerLeft() == 0)) {
                batch = filling;
                filling = new ArrayList<>();
            }
            if (batch == null) {
                return;
            }
            InferRequest request = idle.poll();
            try {
                for (int slot = 0; slot < batch.size(); slot++) {
                    request.putImage(slot, batch.get(slot).crop);
                }
                request.start();
            } catch (RuntimeException e) {
                idle.add(request);
                batch.forEach(item -> item.callback.failed(e));
                continue;
            }
            batchObserver.accept(batch.size());
            batches++;
            images += batch.size();
            running.add(new Running(request, batch));
        }
    }

    /** The waiter: delivers finished batches, oldest first, and starts part-filled ones when due. */
    private void work() {
        lock.lock();
        try {
            while (true) {
                Running oldest = running.peek();
                if (oldest != null) {
                    lock.unlock();
                    try {
                        deliver(oldest);
                    } finally {
                        lock.lock();
                    }
                    running.poll();
                    idle.add(oldest.request);
                    startWhatIsDue();
                } else if (closed) {
                    return;
                } else if (filling.isEmpty()) {
                    changed.awaitUninterruptibly();
                } else {
                    startWhatIsDue();
                    if (running.isEmpty()) {
                        awaitNanos(lingerLeft());
                    }
                }
            }
        } finally {
            lock.unlock();
        }
    }

    private void awaitNanos(long nanos) {
        try {
            changed.awaitNanos(nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void deliver(Running batch) {
        List<float[]> results = new ArrayList<>(batch.items.size());
        List<float[]> embeddings = new ArrayList<>(batch.items.size());
        try {
            batch.request.await();
            for (int slot = 0; slot < batch.items.size(); slot++) {
                results.add(batch.request.probabilities(slot));
                embeddings.add(batch.request.embedding(slot));
            }
        } catch (RuntimeException e) {
            batch.items.forEach(item -> item.callback.failed(e));
            return;
        }
        for (int slot = 0; slot < batch.items.size(); slot++) {
            batch.items.get(slot).callback.done(results.get(slot), embeddings.get(slot));
        }
    }

    /** Runs what is queued, waits for it, then frees the requests. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            startWhatIsDue();
            changed.signal();
        } finally {
            lock.unlock();
        }
        try {
            waiter.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        requests.forEach(InferRequest::close);
        LOG.info("{} images in {} infer requests (batch size {}, {} requests)", images, batches, batchSize, requests.size());
    }
}
