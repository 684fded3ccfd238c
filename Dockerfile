# nsq in a container: the single executable dist/nsq on a slim Debian.
#
#   docker build -t nsq .
#   docker run --rm -p 4150:4150 -p 4151:4151 -v nsq-data:/data nsq            # the broker (nsq serve)
#   docker run --rm -p 4160:4160 -p 4161:4161 nsq lookupd                       # discovery
#   docker run --rm --network host nsq tail --nsqd-tcp-address=127.0.0.1:4150 --topic=test
#
# Brokers register their --broadcast-address with lookupd (default: the container's hostname);
# give one that clients can reach, e.g. `nsq serve --data-path=/data --broadcast-address=host.example`.

# --- build: Node.js + npm bring the pinned Bun (a dev dependency), which compiles dist/nsq
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && ./dist/nsq --version

# --- run: the executable alone (it embeds the Bun runtime and every module)
FROM debian:bookworm-slim
COPY --from=build /src/dist/nsq /usr/local/bin/nsq
# nsqd, nsqlookupd, to_nsq, nsq_tail, nsq_to_file, nsq_stat, nsq_pause as links to it
RUN nsq install-links /usr/local/bin \
 && useradd --system --home-dir /data --shell /usr/sbin/nologin nsq \
 && mkdir -p /data && chown nsq:nsq /data
USER nsq
WORKDIR /data
VOLUME ["/data"]
# nsqd TCP, HTTP, HTTPS; nsqlookupd TCP, HTTP
EXPOSE 4150 4151 4152 4160 4161
ENTRYPOINT ["nsq"]
CMD ["serve", "--data-path=/data"]
