import WorkerDaemon
import JobCommon

WorkerCommand.main()
