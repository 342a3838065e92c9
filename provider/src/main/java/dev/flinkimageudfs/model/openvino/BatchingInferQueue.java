package dev.flinkimageudfs.model.openvino;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Gathers crops submitted one at a time into batched OpenVINO infer requests and reports each
 * crop's probabilities to its callback, in submission order.
 *
 * <p>A batch starts as soon as it is full, or, part-filled, whenever none of this queue's
 * requests is running: a busy device always gets full batches, an idle one never waits for rows
 * that may not come (the end of the input, a quiet stream, or an async operator whose in-flight
 * limit is smaller than a batch). One thread ({@code waiter}) waits for the running requests,
 * oldest first, and runs the callbacks.
 */
public final class BatchingInferQueue implements AutoCloseable {

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
    private final Condition started = lock.newCondition();
    private final Deque<InferRequest> idle = new ArrayDeque<>();
    private final Deque<List<Item>> full = new ArrayDeque<>();
    private final Deque<Running> running = new ArrayDeque<>();
    private final Thread waiter;
    private final Consumer<Integer> batchObserver;
    private List<Item> filling = new ArrayList<>();
    private boolean closed;

    /**
     * {@code count} requests of {@code model}; {@code batchObserver} hears the size of every batch
     * started (for metrics).
     */
    public BatchingInferQueue(ClassificationModel model, int count, String threadName, Consumer<Integer> batchObserver) {
        this.batchSize = model.batchSize();
        this.batchObserver = batchObserver;
        for (int i = 0; i < count; i++) {
            InferRequest request = model.newRequest();
            requests.add(request);
            idle.add(request);
        }
        waiter = new Thread(this::waitForResults, threadName);
        waiter.setDaemon(true);
        waiter.start();
    }

    public int batchSize() {
        return batchSize;
    }

    /** Queues one crop; {@code callback} runs on the waiter thread. */
    public void submit(byte[] crop, Callback callback) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the inference queue is closed");
            }
            filling.add(new Item(crop, callback));
            if (filling.size() == batchSize) {
                full.add(filling);
                filling = new ArrayList<>();
            }
            startWhatCan();
        } finally {
            lock.unlock();
        }
    }

    /** Starts full batches on idle requests, or the part-filled one when nothing runs. Holds the lock. */
    private void startWhatCan() {
        while (!idle.isEmpty()) {
            List<Item> batch = full.poll();
            if (batch == null && running.isEmpty() && !filling.isEmpty()) {
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
            running.add(new Running(request, batch));
            started.signal();
        }
    }

    private void waitForResults() {
        while (true) {
            Running oldest;
            lock.lock();
            try {
                while (running.isEmpty() && !closed) {
                    started.awaitUninterruptibly();
                }
                if (running.isEmpty()) {
                    return; // closed and drained
                }
                oldest = running.peek();
            } finally {
                lock.unlock();
            }
            deliver(oldest);
            lock.lock();
            try {
                running.poll();
                idle.add(oldest.request);
                startWhatCan();
            } finally {
                lock.unlock();
            }
        }
    }

    private static void deliver(Running batch) {
        List<float[]> results = new ArrayList<>(batch.items.size());
        try {
            batch.request.await();
            for (int slot = 0; slot < batch.items.size(); slot++) {
                results.add(batch.request.probabilities(slot));
            }
        } catch (RuntimeException e) {
            batch.items.forEach(item -> item.callback.failed(e));
            return;
        }
        for (int slot = 0; slot < batch.items.size(); slot++) {
            batch.items.get(slot).callback.done(results.get(slot));
        }
    }

    /** Waits for the running requests, fails what never started, frees the requests. */
    @Override
    public void close() {
        List<Item> abandoned = new ArrayList<>();
        lock.lock();
        try {
            closed = true;
            full.forEach(abandoned::addAll);
            full.clear();
            abandoned.addAll(filling);
            filling = new ArrayList<>();
            started.signal();
        } finally {
            lock.unlock();
        }
        IllegalStateException error = new IllegalStateException("the inference queue was closed before this image ran");
        abandoned.forEach(item -> item.callback.failed(error));
        try {
            waiter.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        requests.forEach(InferRequest::close);
    }
}
