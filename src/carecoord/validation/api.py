from ninja import Router

router = Router(tags=["validation"])
