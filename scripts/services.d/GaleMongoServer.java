// The MongoDB-protocol server that scripts/services runs by default: mongo-java-server with its
// in-memory backend, bound to one loopback address. Its collections serialise writes, so a
// findAndModify compare-and-set has exactly one winner (FerretDB 1.x does not guarantee that).
// Started with Java's source launcher: java -cp '<jars>/*' GaleMongoServer.java HOST PORT
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

public final class GaleMongoServer {
  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: GaleMongoServer HOST PORT");
      System.exit(2);
    }
    MongoServer server = new MongoServer(new MemoryBackend());
    server.bind(args[0], Integer.parseInt(args[1]));
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
    System.out.println("GaleMongoServer: mongo-java-server listening on " + args[0] + ":" + args[1]);
    Thread.currentThread().join();
  }
}
