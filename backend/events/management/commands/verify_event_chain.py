"""python manage.py verify_event_chain [NUMBER ...]

Checks the hash chain of the named events (by number or id), or of every event."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from tqdm import tqdm

from backend.events.history import verify_chain
from backend.events.models import Event


class Command(BaseCommand):
    help = "校验事件操作记录的哈希链 (verify the events' hash-chained history)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("events", nargs="*", help="event numbers or ids; all events when none")

    def handle(self, *args, events: list[str], **options) -> None:
        queryset = Event.objects.order_by("number")
        if events:
            condition = Q(number__in=events)
            ids = [value for value in events if len(value) == 36]
            if ids:
                condition |= Q(pk__in=ids)
            queryset = queryset.filter(condition)
        if events:
            found = {str(v) for pair in queryset.values_list("number", "pk") for v in pair}
            unknown = [value for value in events if value not in found]
            if unknown:
                raise CommandError(f"no event numbered {', '.join(unknown)} (找不到事件)")
        broken = 0
        total = queryset.count()
        for event in tqdm(queryset.iterator(chunk_size=1000), total=total, disable=total < 1000, desc="verify"):
            problems = verify_chain(event)
            if problems:
                broken += 1
                self.stderr.write(f"{event.number}: " + "; ".join(problems))
        if broken:
            raise CommandError(f"{broken} of {total} events have a broken chain")
        self.stdout.write(self.style.SUCCESS(f"{total} events: every chain intact (链完整)"))
