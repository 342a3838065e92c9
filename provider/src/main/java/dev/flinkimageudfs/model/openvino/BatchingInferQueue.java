package dev.flinkimageudfs.model.openvino;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Gathers crops submitted one at a time into batched OpenVINO infer requests and reports each
 * crop's probabilities to its callback, in submission order.
 *
 * <p>A full batch starts as soon as a request is idle. A part-filled one starts when none of this
 * queue's requests is running and no crop has arrived for {@link #LINGER_NANOS}: the end of the
 * input, a quiet stream, or an async operator that has all its rows in flight. (A part-filled
 * batch costs as much as a full one; started whenever the queue ran dry, batches of 8 carried 6.5
 * images on average on 2 busy cores.) One thread ({@code waiter}) waits for the running requests,
 * oldest first, runs the callbacks and starts what is due.
 *
 * <p>Closing (Flink closes the function when the task ends or is cancelled, after interrupting
 * the task thread) must never free a request OpenVINO may still run: {@link #close} drops what has
 * not started, cancels the running requests, waits for the waiter (ignoring interrupts, for at
 * most {@link #CLOSE_TIMEOUT_MILLIS}) and frees the requests only once it has stopped; otherwise
 * it leaks them, says so and tells the caller to keep the compiled model too. A callback that
 * throws fails its own crop only; the waiter goes on.
 */
public final class BatchingInferQueue {

    private static final Logger LOG = LoggerFactory.getLogger(BatchingInferQueue.class);

    /** How long a part-filled batch waits for more crops when nothing runs: a few decodes. */
    static final long LINGER_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    /**
     * How long {@link #close} waits for cancelled requests to return: far longer than a batch
     * takes, well inside Flink's task cancellation timeout (180 s by default).
     */
    static final long CLOSE_TIMEOUT_MILLIS = 20_000;

    /** Receives the probabilities of one crop, or why inference failed. */
    public interface Callback {
        void done(float[] probabilities);

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
     * {@code count} requests of {@code model}; {@code batchObserver} hears the size of every batch
     * started (for metrics). If a request cannot be made, those made so far are freed.
     */
    public BatchingInferQueue(ClassificationModel model, int count, String threadName, IntConsumer batchObserver) {
        this.batchSize = model.batchSize();
        this.batchObserver = batchObserver;
        try {
            for (int i = 0; i < count; i++) {
                InferRequest request = model.newRequest();
                requests.add(request);
                idle.add(request);
            }
        } catch (RuntimeException e) {
            requests.forEach(InferRequest::close);
            throw e;
        }
        waiter = new Thread(this::work, threadName);
        waiter.setDaemon(true);
        waiter.start();
    }

    /** Queues one crop; {@code callback} runs on the waiter thread. */
    public void submit(byte[] crop, Callback callback) {
        List<Failed> failures;
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
            failures = startWhatIsDue();
            changed.signal(); // the waiter (re)starts its linger clock
        } finally {
            lock.unlock();
        }
        failures.forEach(Failed::report);
    }

    /** Nanoseconds until the part-filled batch is due; 0 when it is. Holds the lock. */
    private long lingerLeft() {
        return Math.max(0, LINGER_NANOS - (System.nanoTime() - lastArrival));
    }

    /**
     * Starts full batches on idle requests, and the part-filled one when due. Holds the lock;
     * returns the batches that could not start, for the caller to report once it has let go.
     */
    private List<Failed> startWhatIsDue() {
        List<Failed> failures = new ArrayList<>();
        while (!closed && !idle.isEmpty()) {
            List<Item> batch = full.poll();
            if (batch == null && running.isEmpty() && !filling.isEmpty() && lingerLeft() == 0) {
                batch = filling;
                filling = new ArrayList<>();
            }
            if (batch == null) {
                break;
            }
            InferRequest request = idle.poll();
            try {
                for (int slot = 0; slot < batch.size(); slot++) {
                    request.putImage(slot, batch.get(slot).crop);
                }
                request.start();
            } catch (RuntimeException e) {
                idle.add(request);
                failures.add(new Failed(batch, e));
                continue;
            }
            batchObserver.accept(batch.size());
            batches++;
            images += batch.size();
            running.add(new Running(request, batch));
        }
        return failures;
    }

    /** The waiter: delivers finished batches, oldest first, and starts part-filled ones when due. */
    private void work() {
        try {
            waitAndDeliver();
        } catch (Throwable e) { // not expected; the rows in flight must not wait for a timeout
            LOG.error("The inference queue's waiter failed; failing the images in flight", e);
            List<Item> left = new ArrayList<>();
            List<InferRequest> started = new ArrayList<>();
            lock.lock();
            try {
                closed = true;
                running.forEach(batch -> {
                    left.addAll(batch.items);
                    started.add(batch.request);
                    batch.request.cancel();
                });
                running.clear();
                full.forEach(left::addAll);
                left.addAll(filling);
                filling = new ArrayList<>();
                full.clear();
            } finally {
                lock.unlock();
            }
            for (InferRequest request : started) { // nothing may run once this thread is gone
                try {
                    request.await();
                } catch (Throwable ignored) {
                    // cancelled or failed: either way it no longer runs
                }
            }
            new Failed(left, e).report();
        }
    }

    private void waitAndDeliver() {
        lock.lock();
        try {
            while (true) {
                Running oldest = running.peek();
                List<Failed> failures;
                if (oldest != null) {
                    lock.unlock();
                    try {
                        deliver(oldest);
                    } finally {
                        lock.lock();
                    }
                    running.poll();
                    idle.add(oldest.request);
                    failures = startWhatIsDue();
                } else if (closed) {
                    return;
                } else if (filling.isEmpty()) {
                    changed.awaitUninterruptibly();
                    continue;
                } else {
                    failures = startWhatIsDue();
                    if (running.isEmpty() && failures.isEmpty()) {
                        awaitNanos(lingerLeft());
                    }
                }
                if (!failures.isEmpty()) {
                    lock.unlock();
                    try {
                        failures.forEach(Failed::report);
                    } finally {
                        lock.lock();
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

    /** Waits for one batch (outside the lock) and runs its callbacks. */
    private void deliver(Running batch) {
        List<float[]> results = new ArrayList<>(batch.items.size());
        try {
            batch.request.await();
            for (int slot = 0; slot < batch.items.size(); slot++) {
                results.add(batch.request.probabilities(slot));
            }
        } catch (RuntimeException e) {
            new Failed(batch.items, e).report();
            return;
        }
        for (int slot = 0; slot < batch.items.size(); slot++) {
            Item item = batch.items.get(slot);
            try {
                item.callback.done(results.get(slot));
            } catch (Throwable e) { // this row's problem: the next rows and the waiter go on
                failQuietly(item, e);
            }
        }
    }

    /** Items that get an error instead of probabilities. */
    private final class Failed {
        final List<Item> items;
        final Throwable error;

        Failed(List<Item> items, Throwable error) {
            this.items = items;
            this.error = error;
        }

        void report() {
            items.forEach(item -> failQuietly(item, error));
        }
    }

    private void failQuietly(Item item, Throwable error) {
        try {
            item.callback.failed(error);
        } catch (Throwable e) {
            if (isClosed()) { // the operator is going away and may refuse late results
                LOG.debug("A callback failed while the inference queue closed", e);
            } else {
                LOG.warn("A callback failed; its image is lost to this queue", e);
            }
        }
    }

    private boolean isClosed() {
        lock.lock();
        try {
            return closed;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Stops the queue: crops not yet started fail with a {@link CancellationException}, running
     * requests are cancelled and their crops fail, and the requests are freed once the waiter has
     * stopped. On a normal end of input nothing is queued (Flink waits for every row in flight
     * before it closes the function). Returns false if the waiter did not stop within {@link
     * #CLOSE_TIMEOUT_MILLIS}: the requests may still run, so they are leaked (and logged), and the
     * caller must not free the compiled model they belong to either.
     */
    public boolean close() {
        List<Item> dropped = new ArrayList<>();
        lock.lock();
        try {
            if (closed && !waiter.isAlive() && requests.isEmpty()) {
                return true; // closed before
            }
            closed = true;
            full.forEach(dropped::addAll);
            full.clear();
            dropped.addAll(filling);
            filling = new ArrayList<>();
            running.forEach(batch -> batch.request.cancel());
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        new Failed(dropped, new CancellationException("the inference queue closed before this image was inferred")).report();
        if (!joinIgnoringInterrupts(waiter, CLOSE_TIMEOUT_MILLIS)) {
            LOG.error(
                    "Inference did not stop within {} ms of being cancelled: leaking {} infer requests (and their "
                            + "compiled model) rather than freeing memory OpenVINO may still use",
                    CLOSE_TIMEOUT_MILLIS, requests.size());
            return false;
        }
        requests.forEach(InferRequest::close);
        requests.clear();
        LOG.info("{} images in {} infer requests (batch size {}), {} not started at close",
                images, batches, batchSize, dropped.size());
        return true;
    }

    /**
     * Joins {@code thread} for at most {@code timeoutMillis}, through interrupts: Flink interrupts
     * a cancelled task's thread, and giving up early would free what the thread still uses. The
     * interrupt flag is restored before returning.
     */
    static boolean joinIgnoringInterrupts(Thread thread, long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        boolean interrupted = false;
        try {
            while (thread.isAlive()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            return true;
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
